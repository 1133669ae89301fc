"""The scheduler: a pure function from the queue and what runs to the runs to start.

``tick(now, queued, running, capacity)`` does no I/O and never sleeps, so tests
step it with any clock. Ordering and start conditions:

1. Queued runs are considered by priority (higher first), then submit order
   (lower id first). ``QueueIndex`` keeps them in that order incrementally, so a
   tick costs O(runs started), not a sort of the whole queue.
2. A run starts while a slot is free: at most ``capacity.slots`` runs are active
   at once (``--parallel``; whole-machine CPU/GPU capacity replaces slots when
   resources are scheduled).
3. Nothing starts while ``capacity.draining``.

Because the first run that cannot start blocks all after it, submit order is
kept within a priority and nothing starves.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class QueuedRun:
    """A run waiting to start, as the scheduler sees it (sorted into start order)."""

    sort_key: tuple[int, int] = field(init=False, repr=False)
    id: int
    priority: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sort_key", (-self.priority, self.id))


@dataclass(frozen=True)
class Capacity:
    """What the machine can take right now."""

    slots: int
    draining: bool = False


def tick(now: float, queued: Iterable[QueuedRun], running: int, capacity: Capacity) -> list[int]:
    """Return the ids of the runs to start now, in start order.

    ``queued`` must be in start order (a ``QueueIndex`` is); ``running`` counts
    the runs already holding a slot. ``now`` is unused until time-based
    policies (queue timeouts, retry backoff) are scheduled here.
    """
    del now
    free = capacity.slots - running
    if capacity.draining or free <= 0:
        return []
    starts = []
    for run in queued:
        starts.append(run.id)
        if len(starts) == free:
            break
    return starts


class QueueIndex:
    """Queued runs kept in start order (priority, then id) as they come and go."""

    def __init__(self) -> None:
        """Start empty."""
        self._runs: list[QueuedRun] = []
        self._by_id: dict[int, QueuedRun] = {}

    def add(self, run: QueuedRun) -> None:
        """Queue ``run`` (a run already queued is left as it is)."""
        if run.id in self._by_id:
            return
        bisect.insort(self._runs, run)
        self._by_id[run.id] = run

    def remove(self, run_id: int) -> None:
        """Take a run out of the queue (no-op when it is not queued)."""
        run = self._by_id.pop(run_id, None)
        if run is None:
            return
        index = bisect.bisect_left(self._runs, run)
        del self._runs[index]

    def position(self, run_id: int) -> int | None:
        """How many queued runs start before ``run_id`` (``None`` if it is not queued)."""
        run = self._by_id.get(run_id)
        return None if run is None else bisect.bisect_left(self._runs, run)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._by_id

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[QueuedRun]:
        return iter(self._runs)
