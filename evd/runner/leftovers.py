"""What a job left running when its main process ended, and the daemon's part in finding it.

A job's processes share its process group (the shim leads it), so what is
left of the group once the shim has exited is what the job left behind:
``os.killpg(pgid, 0)`` says whether there is any at the cost of one system
call, and only then is ``/proc`` read to name them. A process that left the
group (``setsid``, a daemonizing double fork) is found another way: the
daemon is a *child subreaper* (``PR_SET_CHILD_SUBREAPER``), so such a process
becomes the daemon's child when its parent ends, and its environment still
names its run (``EVD_RUN_ID``, ``EVD_HOME``); the sampler looks for those.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

import psutil

_PR_SET_CHILD_SUBREAPER = 36
COMMAND_SHOWN = 60  # characters of a leftover's command line in the run's log


@dataclass(frozen=True)
class Leftover:
    """A process a job left running."""

    pid: int
    command: str  # its command line, shortened, for the run's log


def become_subreaper() -> bool:
    """Make this process adopt its descendants' orphans (Linux 3.4+); whether it worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def command_of(pid: int) -> str:
    """``sleep 300``: the process's command line, shortened (``pid N`` if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            words = handle.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return f"pid {pid}"
    text = " ".join(word.decode(errors="replace") for word in words) or f"pid {pid}"
    return text if len(text) <= COMMAND_SHOWN else text[: COMMAND_SHOWN - 1] + "…"


def group_members(pgid: int) -> list[Leftover]:
    """The live processes of process group ``pgid`` (one system call when there are none)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass  # members exist; another user's (a setuid program): they are named below
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rpartition(b")")[2].split()
        except OSError:
            continue
        # After the command: state, ppid, pgrp. A zombie is gone already, bar its reaping.
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            found.append(Leftover(int(entry), command_of(int(entry))))
    return found


def still_running(processes: list[psutil.Process], pgid: int) -> list[Leftover]:
    """Those of ``processes`` (seen earlier, outside group ``pgid``) that still run."""
    found = []
    for process in processes:
        try:
            running = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
            if running and os.getpgid(process.pid) != pgid:
                found.append(Leftover(process.pid, command_of(process.pid)))
        except (psutil.Error, ProcessLookupError):
            continue
    return found
