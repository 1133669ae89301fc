"""``disk = "20GiB"``: a run starts only where its folder has the room.

At each tick the runs that ask for disk are counted, in start order, against
the free space of the filesystem that holds the run folders, less what running
runs may still write (each one's claim less what its folder holds already, as
the sampler last measured). A run that does not fit is held out of the
scheduler's view, with the reason, and the count is made again every few
seconds while one waits: space freed outside evd is seen without an event.
While a run runs, the sampler measures its folder and stops it over its claim
(``evd.daemon.monitor.usage``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from evd.daemon.core.dispatch import Dispatch
from evd.units import format_size

RECHECK = 5.0  # seconds between counts while a run waits for room


class DiskRoom:
    """Which queued runs have the disk they ask for; why the others wait."""

    def __init__(
        self,
        dispatch: Dispatch,
        folder: Path,
        used: Callable[[int], int],
        statvfs: Callable[[Path], os.statvfs_result] = os.statvfs,
    ) -> None:
        """Count against ``folder``'s filesystem; ``used(run_id)``: a running run's folder size."""
        self.dispatch = dispatch
        self.folder = folder
        self.used = used
        self.statvfs = statvfs
        self.reasons: dict[int, str] = {}
        self._recheck: asyncio.TimerHandle | None = None

    def never_fits(self, disk: int) -> str | None:
        """Why a run asking for ``disk`` could never start here (``None``: it could)."""
        stats = self.statvfs(self.folder)
        size = stats.f_blocks * stats.f_frsize
        if disk <= size:
            return None
        return (
            f"asks for {format_size(disk)} of disk; the filesystem of {self.folder} holds"
            f" {format_size(size)} in all"
        )

    def free(self) -> int:
        """Bytes an ordinary user may still write on the run folders' filesystem."""
        stats = self.statvfs(self.folder)
        return stats.f_bavail * stats.f_frsize

    def blocked(self) -> set[int]:
        """The queued runs whose disk does not fit now (their reasons in ``reasons``)."""
        asking = self.dispatch.queue.asking_disk()
        self.reasons.clear()
        if not asking:
            return set()
        kept = {
            run_id: max(0, live.disk - self.used(run_id))
            for run_id, live in self.dispatch.running.items()
            if live.disk
        }
        room = self.free() - sum(kept.values())
        blocked = set()
        for run in asking:
            if run.request.disk <= room:
                room -= run.request.disk  # the first in line counts first
                continue
            blocked.add(run.id)
            held = f"; {format_size(sum(kept.values()))} kept for running runs" if kept else ""
            self.reasons[run.id] = (
                f"needs {format_size(run.request.disk)} of disk for its folder,"
                f" {format_size(max(room, 0))} free on {self.folder}{held} (disk)"
            )
        if blocked:
            self._count_again()
        return blocked

    def _count_again(self) -> None:
        if self._recheck is not None and not self._recheck.cancelled():
            return
        loop = self.dispatch.loop

        def again() -> None:
            self._recheck = None
            self.dispatch.wake()

        self._recheck = loop.call_later(RECHECK, again)

    def stop(self) -> None:
        """Count no more (the daemon is stopping)."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
