"""Signal a job's whole process tree: its process group, and descendants that left it."""

from __future__ import annotations

import os
import signal

import psutil


def descendants(pid: int) -> list[psutil.Process]:
    """The live descendants of ``pid`` (empty when it is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def signal_job(pgid: int, sig: signal.Signals, strays: list[psutil.Process]) -> bool:
    """Send ``sig`` to process group ``pgid`` and to ``strays`` outside it.

    ``strays`` are descendants seen earlier (a job may ``setsid`` a child out of
    its group); psutil checks each is still the same process before signalling.
    Returns whether the group still existed.
    """
    try:
        os.killpg(pgid, sig)
        alive = True
    except ProcessLookupError:
        alive = False
    for process in strays:
        try:
            if os.getpgid(process.pid) != pgid:
                process.send_signal(sig)
        except (psutil.Error, ProcessLookupError):
            pass
    return alive
