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

import os
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

# Under ``systemd-run --scope`` (a job with a memory limit): the same, but with nothing a
# wrapper's environment expansion could rewrite (systemd-run turns ``$$`` into ``$`` and
# expands ``${NAME}`` inside a word), and at the end the kernel's count of processes it
# killed for memory in the job's cgroup, read from ``$4`` (the cgroup v2 root):
# ``exit`` then holds "STATUS OOM_KILLS". Reading /proc/self/stat costs ~0.2 ms in dash,
# so only these jobs pay it.
SCOPE_SCRIPT = """\
d=$1
read -r p r </proc/self/stat
echo "$p" >"$d/shim.pid"
trap : HUP INT QUIT TERM USR1 USR2 ALRM
cd -- "$2" || { echo 125 >"$d/exit"; exit 125; }
umask "$3"
g=$4
shift 4
"$@"
s=$?
umask 077
n=0
if IFS=: read -r a b c </proc/self/cgroup; then
  { while read -r k v; do [ "$k" = oom_kill ] && n=$v; done <"$g$c/memory.events"; } 2>/dev/null
fi
echo "$s $n" >"$d/exit"
"""

SHELL = "/bin/sh"


def shim_argv(
    run_dir: Path,
    cwd: str,
    command: list[str],
    umask: int = 0o022,
    cgroup_root: str | None = None,
) -> list[str]:
    """The argv that runs ``command`` in ``cwd`` with ``umask``, recording into ``run_dir``.

    With ``cgroup_root`` (a job under a systemd scope) the shim is ``SCOPE_SCRIPT``,
    which also records the kernel's out-of-memory kills in the job's cgroup.
    """
    words = [str(run_dir), cwd, f"{umask:03o}"]
    if cgroup_root is None:
        return [SHELL, "-c", SCRIPT, SHIM_MARKER, *words, *command]
    return [SHELL, "-c", SCOPE_SCRIPT, SHIM_MARKER, *words, cgroup_root, *command]


def is_shim_of(pid: int, run_dir: Path) -> bool:
    """Whether process ``pid`` is alive and is the shim of ``run_dir`` (guards pid reuse)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    return len(argv) > 4 and argv[3] == SHIM_MARKER.encode() and argv[4] == bytes(run_dir)


def read_shim_pid(run_dir: Path) -> int | None:
    """The pid the shim of ``run_dir`` recorded, or ``None`` if it recorded none it can read."""
    try:
        return int((run_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def unreadable_shim_pid(run_dir: Path) -> str | None:
    """What a shim wrote that is not a pid (it started: its pid is unknown); ``None`` otherwise.

    A missing or empty ``shim.pid`` means no shim started; anything else is the
    trace of one, even when it cannot be read as a pid.
    """
    try:
        text = (run_dir / PID_FILE).read_text(errors="replace").strip()
    except OSError:
        return None
    return text if text and not text.isdigit() else None


def find_shim(run_dir: Path) -> int | None:
    """The pid of a live shim of ``run_dir``, looked for in ``/proc`` (its record unread)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and is_shim_of(int(entry), run_dir):
            return int(entry)
    return None
