"""The shim: a few lines of ``sh`` that supervise one job and record how it ended.

Why ``sh`` and this shape (measured on the reference machine):

* Spawn cost: a ``sh`` shim adds ~1 ms to a direct spawn; a Python shim ~35 ms.
* The job runs in the *foreground* of the shim. A backgrounded job (``cmd & wait``)
  inherits SIGINT and SIGQUIT as ignored (POSIX, and dash will not let a trap
  undo it), so Ctrl-C-style interrupts would never reach it.
* The shim and the job share one session and process group (the shim leads it),
  and evd signals the whole group, so every process of the job gets each signal
  exactly once with default dispositions. The shim traps the catchable
  terminating signals with a no-op: ``sh`` defers a trap until its foreground
  child ends, so the shim outlives the job and records its status. Only SIGKILL
  (evd's last resort after the grace period) takes the shim down with it; evd
  then knows it was the one that killed the job.
* The status record: ``exit`` holds the exit status and a newline, written with
  one ``write``; its mtime is the end time. evd reads it only after the shim has
  exited, and a record without the newline (a shim killed mid-write) counts as
  missing. ``shim.pid`` holds the shim's pid, written first thing, so a daemon
  that died between spawning and committing still finds and adopts the job.

Exit statuses follow the shell: ``128 + N`` for a job killed by signal ``N``.

Files: the daemon runs with umask 077, so everything it and the shim write
under ``EVD_HOME`` is private (0600/0700); the job itself runs with the umask
the daemon was started with (``$3``), as it would have from the user's shell.
"""

from __future__ import annotations

from pathlib import Path

SHIM_MARKER = "evd-shim"
EXIT_FILE = "exit"
PID_FILE = "shim.pid"
LOG_FILE = "output.log"

# $1: run dir, $2: working dir, $3: the job's umask, then the job's argv.
SCRIPT = """\
d=$1
echo $$ >"$d/shim.pid"
trap : HUP INT QUIT TERM USR1 USR2 ALRM
cd -- "$2" || { echo 125 >"$d/exit"; exit 125; }
umask "$3"
shift 3
"$@"
s=$?
umask 077
echo $s >"$d/exit"
"""

SHELL = "/bin/sh"


def shim_argv(run_dir: Path, cwd: str, command: list[str], umask: int = 0o022) -> list[str]:
    """The argv that runs ``command`` in ``cwd`` with ``umask``, recording into ``run_dir``."""
    return [SHELL, "-c", SCRIPT, SHIM_MARKER, str(run_dir), cwd, f"{umask:03o}", *command]


def is_shim_of(pid: int, run_dir: Path) -> bool:
    """Whether process ``pid`` is alive and is the shim of ``run_dir`` (guards pid reuse)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    return len(argv) > 4 and argv[3] == SHIM_MARKER.encode() and argv[4] == bytes(run_dir)


def read_shim_pid(run_dir: Path) -> int | None:
    """The pid the shim of ``run_dir`` recorded, or ``None`` if it never started."""
    try:
        return int((run_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
