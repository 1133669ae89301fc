"""The scheduler: a pure function from the queue and the machine's pool to the runs to start.

``tick(now, queued, running, capacity, pool)`` does no I/O and never sleeps, so
tests step it with any clock. Ordering and start conditions:

1. Queued runs are considered by priority (higher first), then submit order
   (lower id first). ``QueueIndex`` keeps them in that order incrementally.
2. A run starts when its ``Request`` fits what is free in the pool (CPUs,
   memory, whole GPUs, or a share of one packed by GPU memory; see
   ``evd.resources.pool``) and fewer than ``capacity.slots`` runs are active.
3. Backfill without starvation: the first run that does not fit has what it
   waits for set aside (the free CPUs and memory it needs, the free devices it
   would take); later runs may start only on what is left. What it waits for
   can therefore only grow, so it starts as soon as enough is released.
4. Nothing starts while ``capacity.draining``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from evd.resources.pool import Allocation, Pool, Reserved
from evd.resources.request import EPSILON, GIB, Request


@dataclass(frozen=True, order=True)
class QueuedRun:
    """A run waiting to start, as the scheduler sees it (sorted into start order)."""

    sort_key: tuple[int, int] = field(init=False, repr=False)
    id: int
    priority: int = 0
    request: Request = field(default=Request(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sort_key", (-self.priority, self.id))


@dataclass(frozen=True)
class Capacity:
    """Limits beyond the pool: a cap on active runs (``--parallel``), and drain mode."""

    slots: int | None  # None: no cap beyond the pool
    draining: bool = False


def _reserve(pool: Pool, request: Request, reserved: Reserved) -> None:
    """Set aside, for a run that does not fit, the free part of what it needs."""
    reserved.cpus = min(request.cpus, max(0.0, pool.cpus_free))
    reserved.memory = min(request.memory, max(0, pool.memory_free))
    usable = pool.usable()
    if request.whole_gpus:
        # The idle devices it could take, and, for the rest, busy ones that take
        # nothing new: it starts as soon as those are released.
        idle = pool.idle(request.gpu_memory)[: request.whole_gpus]
        chosen = {d.index for d in idle}
        busy = [d for d in usable if d.index not in chosen and d.memory_total >= request.gpu_memory]
        busy.sort(key=lambda d: (d.whole, d.share_used, len(d.holders), d.index))
        chosen.update(d.index for d in busy[: request.whole_gpus - len(chosen)])
        reserved.devices = chosen
    elif request.gpu_share:
        shareable = [d for d in usable if not d.whole]
        if shareable:
            # Keep back only its share and memory on the roomiest device: smaller
            # shares may still use the rest of it.
            roomiest = max(shareable, key=lambda d: (d.memory_free, -d.index))
            claim = request.gpu_memory or int(request.gpu_share * roomiest.memory_total)
            free_share = max(0.0, 1 - roomiest.share_used)
            kept = (min(request.gpu_share, free_share), min(claim, max(0, roomiest.memory_free)))
            reserved.shares = {roomiest.index: kept}


def tick(
    now: float, queued: Iterable[QueuedRun], running: int, capacity: Capacity, pool: Pool
) -> list[Allocation]:
    """The runs to start now, each with what it gets, in start order.

    ``queued`` must be in start order (a ``QueueIndex`` is); ``running`` counts
    the active runs; ``pool`` is left untouched (the caller takes each
    allocation once its run has started). ``now`` is unused until time-based
    policies (queue timeouts, retry backoff) are scheduled here.
    """
    del now
    slots = None if capacity.slots is None else capacity.slots - running
    if capacity.draining or (slots is not None and slots <= 0):
        return []
    work = pool.copy()
    reserved = Reserved()
    blocked = False
    # Within a tick what is free only shrinks, so a shape that did not fit never
    # will: 10,000 queued runs of a few shapes cost a few fits, not 10,000.
    cannot: set[Request] = set()
    starts: list[Allocation] = []
    for run in queued:
        if run.request in cannot:
            continue
        allocation = work.fit(run.id, run.request, reserved)
        if allocation is None:
            cannot.add(run.request)
            if not blocked:
                _reserve(work, run.request, reserved)
                blocked = True
            if work.cpus_free - reserved.cpus <= EPSILON:
                break  # every run needs some CPU: nothing more can start
            continue
        work.take(allocation)
        starts.append(allocation)
        if slots is not None:
            slots -= 1
            if slots == 0:
                break
    return starts


def _holders(device_holders: set[int], names: Callable[[int], str]) -> str:
    return ", ".join(names(run_id) for run_id in sorted(device_holders))


def why_waiting(request: Request, pool: Pool, ahead: int, names: Callable[[int], str]) -> str:
    """Why a queued run has not started, in words a person can act on.

    ``names(run_id)`` gives ``run 12 (alpha)``. The first shortfall found is
    named: GPUs, then CPUs, then memory; otherwise the runs ahead of it.
    Drained devices are named with the reason.
    """
    reason = _why_waiting(request, pool, ahead, names)
    drained = "; ".join(
        f"GPU{d.index} drained: {d.problem}" for d in pool.devices.values() if d.problem
    )
    if drained and request.gpus:
        return f"{reason}; {drained}"
    return reason


def _why_waiting(request: Request, pool: Pool, ahead: int, names: Callable[[int], str]) -> str:
    usable = pool.usable()
    if request.whole_gpus:
        idle = pool.idle(request.gpu_memory)
        if len(idle) < request.whole_gpus:
            held = "; ".join(
                f"GPU{d.index} held by {_holders(d.holders, names)}" for d in usable if d.holders
            )
            return f"needs {request.describe()}; {len(idle)} GPU(s) free" + (
                f": {held}" if held else ""
            )
    elif request.gpu_share and pool.fit(-1, request) is None:
        states = "; ".join(
            f"GPU{d.index} has {d.memory_free / GIB:.1f} GiB and"
            f" {max(0.0, 1 - d.share_used):.2f} of its share free"
            + (f" ({_holders(d.holders, names)})" if d.holders else "")
            for d in usable
        )
        return f"needs {request.describe()}: {states}"
    if request.cpus > pool.cpus_free + EPSILON:
        return f"needs {request.describe()}; {max(0.0, pool.cpus_free):g} CPU(s) free"
    if request.memory > pool.memory_free:
        return (
            f"needs {request.describe()};"
            f" {max(0, pool.memory_free) / GIB:.1f} GiB of memory unreserved"
        )
    return f"waiting for its turn: {ahead} run(s) ahead of it in the queue"


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
