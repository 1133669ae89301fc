"""How much disk a run's folder holds: measured for runs that declare ``disk``.

Blocks the files really take (``st_blocks``), each hard-linked file once, links
not followed: staged inputs a run only links to are not its own. Walking a big
tree costs, so a folder is measured at most every ``EVERY`` seconds, off the
loop (in the sampler's thread).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

EVERY = 5.0


def folder_size(root: Path) -> int:
    """Bytes of disk the files under ``root`` take (0 if it is gone)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue  # removed while it was walked, or unreadable
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.st_nlink > 1:
                if (stat.st_dev, stat.st_ino) in seen:
                    continue
                seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_blocks * 512
    return total


class DiskMeter:
    """Measures run folders, each at most every ``every`` seconds."""

    def __init__(self, every: float = EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        """Measure no folder more often than ``every`` seconds."""
        self.every = every
        self.clock = clock
        self._last: dict[int, float] = {}

    def measure(self, folders: dict[int, Path]) -> dict[int, int]:
        """The size of each folder that is due (runs by id); forget runs no longer given."""
        now = self.clock()
        for run_id in set(self._last) - set(folders):
            del self._last[run_id]
        sizes = {}
        for run_id, folder in folders.items():
            if now - self._last.get(run_id, -self.every) >= self.every:
                sizes[run_id] = folder_size(folder)
                self._last[run_id] = now
        return sizes
