"""The file-system side of watched folders: is a file complete, and filing it when its run ends.

Blocking functions (they stat, scan ``/proc`` and copy logs): the daemon calls
them off its event loop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# open(2) flags in /proc/PID/fdinfo/FD: the access mode bits.
_O_ACCMODE = 0o3
_O_RDONLY = 0


def identity(path: Path) -> str | None:
    """``device:inode:size:mtime`` of a regular file (``None`` if it is gone or not a file).

    A file written anew (or replaced) gets another identity, so evd tells a new
    drop of ``job.py`` from the one it already ran.
    """
    try:
        stat = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


def open_for_writing(paths: set[str]) -> set[str]:
    """Those of ``paths`` some process has open for writing now (one pass over ``/proc``).

    Processes of other users cannot be read and are not seen: a file another
    user is still writing is caught by the quiet period instead.
    """
    if not paths:
        return set()
    found: set[str] = set()
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target in paths and _writable(pid, fd):
                found.add(target)
    return found


def _writable(pid: str, fd: str) -> bool:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as info:
            for line in info:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & _O_ACCMODE != _O_RDONLY
    except (OSError, ValueError, IndexError):
        pass
    return False


@dataclass(frozen=True)
class Filing:
    """Where a finished run's script went and what evd said about it."""

    script: Path | None  # None: the script was gone or replaced; only its log is filed
    log: Path
    note: str | None = None


def file_away(
    folder: Path,
    name: str,
    picked: str,
    *,
    outcome: str,
    run_id: int,
    log_parts: list[Path],
    footer: str,
) -> Filing:
    """Move ``folder/name`` to ``folder/done/`` or ``folder/failed/`` (``outcome``) with its log.

    The log (the run's output, then any build log, then ``footer``) is written
    first, so a script that is in ``done/`` always has its log beside it. A name
    already taken there gets the run id (``job-run12.py``). The script moves only
    if it is still the file that was picked up (``picked``, its identity): one
    dropped anew meanwhile stays, to be picked up as a new file.
    """
    target = folder / outcome
    target.mkdir(exist_ok=True)
    filed_name = name
    if (target / name).exists() or (target / f"{name}.log").exists():
        stem, dot, suffix = name.rpartition(".")
        filed_name = f"{stem}-run{run_id}.{suffix}" if dot and stem else f"{name}-run{run_id}"
    log = target / f"{filed_name}.log"
    partial = target / f".{filed_name}.log.part"
    with open(partial, "wb") as out:
        for part in log_parts:
            with contextlib.suppress(FileNotFoundError), open(part, "rb") as text:
                shutil.copyfileobj(text, out, 1024 * 1024)
        out.write(footer.encode() + b"\n")
    os.replace(partial, log)
    source = folder / name
    current = identity(source)
    if current is None:
        return Filing(None, log, f"{name} was removed while its run went on; only its log is filed")
    if current != picked:
        return Filing(None, log, f"{name} was written anew while its run went on; it runs next")
    script = target / filed_name
    os.replace(source, script)
    return Filing(script, log)
