"""Spawn a job under its shim with ``posix_spawn`` (vfork-speed, no Python in the child)."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from evd.runner.shim import LOG_FILE, shim_argv

# Reset every catchable signal to its default in the job: Python ignores SIGPIPE
# and SIGXFSZ, and a daemon started under nohup ignores SIGHUP; a job must not
# inherit any of that.
_DEFAULT_SIGNALS = frozenset(range(1, 32)) - {signal.SIGKILL, signal.SIGSTOP}
PRIVATE_UMASK = 0o077
_job_umask: int | None = None  # the umask jobs run with, once the daemon's own is private


def keep_files_private() -> None:
    """Make everything this process creates private (umask 077); jobs keep the umask it had.

    The umask is the process's, so this is too: the daemon calls it once at start.
    """
    global _job_umask  # noqa: PLW0603 (one value per process, like the umask itself)
    previous = os.umask(PRIVATE_UMASK)
    if _job_umask is None:
        _job_umask = previous


def job_umask() -> int:
    """The umask a job runs with: the process's before ``keep_files_private``, else its own."""
    if _job_umask is not None:
        return _job_umask
    current = os.umask(0)
    os.umask(current)
    return current


class SpawnError(Exception):
    """The job could not be started; the message says why, for the run's reason."""


def find_program(program: str, cwd: str, env: dict[str, str]) -> str | None:
    """Resolve ``program`` the way the shim's ``sh`` will (PATH, or a path relative to cwd)."""
    if "/" in program:
        path = program if os.path.isabs(program) else os.path.join(cwd, program)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which(program, path=env.get("PATH", os.defpath))


def check_startable(command: list[str], cwd: str, env: dict[str, str]) -> None:
    """Raise ``SpawnError`` when the working dir or the program is missing."""
    if not os.path.isdir(cwd):
        raise SpawnError(f"working directory not found: {cwd}")
    if not command[0].strip():
        raise SpawnError("the program name is empty: give a program to run")
    if find_program(command[0], cwd, env) is None:
        raise SpawnError(f"program not found: {command[0]}")


def spawn(
    run_dir: Path,
    cwd: str,
    command: list[str],
    env: dict[str, str],
    *,
    wrap: Callable[[list[str]], list[str]] | None = None,
    cgroup_root: str | None = None,
) -> int:
    """Start ``command`` under the shim in a new session; return the shim's pid (= its pgid).

    stdin is ``/dev/null``; stdout and stderr share one append-mode file
    description, so ``output.log`` interleaves them exactly as a terminal would.
    ``wrap`` may put a launcher that execs in place (``systemd-run --scope``)
    in front of the shim; ``cgroup_root`` then has the shim record the
    kernel's out-of-memory kills in the job's cgroup (see ``SCOPE_SCRIPT``).
    """
    log = str(run_dir / LOG_FILE)
    argv = shim_argv(run_dir, cwd, command, job_umask(), cgroup_root)
    if wrap is not None:
        argv = wrap(argv)
    return os.posix_spawn(
        argv[0] if wrap is not None else "/bin/sh",
        argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
        setsigmask=(),
        setsigdef=_DEFAULT_SIGNALS,
    )
