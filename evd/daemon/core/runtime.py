"""Runtime-only state of the daemon: the processes it is watching right now.

Never persisted. Everything here is rebuilt on start by ``Recovery.reconcile``
from the store and the run folders (the shims' ``shim.pid`` and ``exit``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


@dataclass
class LiveRun:
    """A run whose shim is alive and watched."""

    run_id: int
    pid: int  # the shim's pid, which is also the job's process group id
    run_dir: Path
    stopping: str | None = None  # "cancel", "timeout", "memory"... once evd is stopping it
    master_port: int | None = None  # the MASTER_PORT a multi-GPU job was given
    strays: list[psutil.Process] = field(default_factory=list)
    progress: dict[str, Any] = field(default_factory=dict)  # its last progress report
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    ending: bool = False  # its shim has exited; what the job left running is being stopped
    scoped: bool = False  # started under systemd-run (a memory limit the kernel enforces)
    disk: int = 0  # bytes its folder may hold (``disk``); the sampler measures it
    preemptible: bool = False  # it may be stopped for a more urgent run and queued again

    def cancel_timers(self) -> None:
        """Disarm the timeout and kill timers."""
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
