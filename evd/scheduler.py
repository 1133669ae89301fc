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
4. EASY backfill: a later run with a ``--timeout`` that ends before the head's
   shadow time (when the runs' timeouts guarantee it fits) may use what is
   set aside too; see ``evd.reservation``.
5. Loans: a later *preemptible* run whose estimate says it ends before the
   head's planned shadow time (the running runs ending as estimated) may use
   what is set aside as well. Its allocation is marked ``on_loan``; evd
   requeues it the moment the head would fit without it (``loans_to_recall``),
   so a wrong estimate never delays the head.
6. Nothing starts while ``capacity.draining``.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from evd.reservation import reserve
from evd.resources.pool import Allocation, Pool, Reserved
from evd.resources.request import Request


@dataclass(frozen=True, order=True)
class QueuedRun:
    """A run waiting to start, as the scheduler sees it (sorted into start order)."""

    sort_key: tuple[int, int] = field(init=False, repr=False)
    id: int
    priority: int = 0
    request: Request = field(default=Request(), compare=False)
    limit: float | None = field(default=None, compare=False)  # its --timeout, in seconds
    warm: str | None = field(default=None, compare=False)  # its job's warm-worker key
    estimate: float | None = field(default=None, compare=False)  # seconds, from alike runs
    preemptible: bool = field(default=False, compare=False)  # may be stopped and queued again

    def __post_init__(self) -> None:
        object.__setattr__(self, "sort_key", (-self.priority, self.id))


@dataclass(frozen=True)
class Capacity:
    """Limits beyond the pool: a cap on active runs (``--parallel``), and drain mode."""

    slots: int | None  # None: no cap beyond the pool
    draining: bool = False


def tick(
    now: float, queued: Iterable[QueuedRun], running: int, capacity: Capacity, pool: Pool
) -> list[Allocation]:
    """The runs to start now, each with what it gets, in start order.

    ``queued`` must be in start order (a ``QueueIndex`` is); ``running`` counts
    the active runs; ``pool`` is left untouched (the caller takes each
    allocation once its run has started). ``now`` is on the clock of the
    allocations' ``ends_by``; each start's ``ends_by`` is ``now`` plus its limit.
    """
    slots = None if capacity.slots is None else capacity.slots - running
    if capacity.draining or (slots is not None and slots <= 0):
        return []
    placer = _Placer(pool.copy(), now)
    cannot, cannot_at_all = placer.cannot, placer.cannot_at_all
    latest_end = -math.inf  # a run ending by then may use what the head waits for
    planned_end = -math.inf  # a preemptible run expected to end by then may borrow it
    starts: list[Allocation] = []
    for run in queued:
        # The common cases first, kept cheap: 10,000 queued runs pass here.
        request, limit = run.request, run.limit
        if request in cannot and (
            (
                (limit is None or now + limit > latest_end)
                and (
                    not run.preemptible or run.estimate is None or now + run.estimate > planned_end
                )
            )
            or request in cannot_at_all
        ):
            continue
        allocation = placer.place(run)
        if allocation is not None:
            starts.append(allocation)
            if slots is not None:
                slots -= 1
        if placer.full or slots == 0:
            break
        latest_end, planned_end = placer.latest_end(), placer.planned_end()
    return starts


class _Placer:
    """One tick's scratch pool, what is set aside for the blocked head, and fits that failed."""

    def __init__(self, work: Pool, now: float) -> None:
        self.work = work
        self.now = now
        self.reserved: Reserved | None = None  # for the first run that does not fit
        # Within a tick what is free only shrinks, so a shape that did not fit
        # never will: 10,000 queued runs of a few shapes cost a few fits.
        self.cannot: set[Request] = set()  # did not fit beside the reservation
        self.cannot_at_all: set[Request] = set()  # did not fit even on what is set aside
        self.full = False  # no CPU is left to any run (every run needs some)

    def place(self, run: QueuedRun) -> Allocation | None:
        """Take what ``run`` gets from the scratch pool, or ``None`` if it must wait."""
        allocation = self._fit(run)
        if allocation is None:
            return None
        if run.limit is not None:
            allocation = dataclasses.replace(allocation, ends_by=self.now + run.limit)
        if run.estimate is not None:
            allocation = dataclasses.replace(allocation, expected_by=self.now + run.estimate)
        self.work.take(allocation)
        self._update_full()
        return allocation

    def _fit(self, run: QueuedRun) -> Allocation | None:
        if run.request not in self.cannot:
            allocation = self.work.fit(run.id, run.request, self.reserved)
            if allocation is not None:
                return allocation
            self.cannot.add(run.request)
        if self.reserved is None:
            self.reserved = reserve(self.work, run.request, self.now)
            self._update_full()
            return None
        if run.request in self.cannot_at_all:
            return None
        sure = self._ends_in_time(run)
        if not sure and not self._may_borrow(run):
            return None
        allocation = self.work.fit(run.id, run.request)
        if allocation is None:
            self.cannot_at_all.add(run.request)
            return None
        return allocation if sure else dataclasses.replace(allocation, on_loan=True)

    def latest_end(self) -> float:
        """A run sure to end by then may use what the head waits for (``-inf``: none may).

        With an unknown shadow time no run may: each would delay the head, and
        a stream of short ones would starve it.
        """
        until = -math.inf if self.reserved is None else self.reserved.until
        return until if until < math.inf else -math.inf

    def planned_end(self) -> float:
        """A preemptible run expected to end by then may borrow what the head waits for."""
        planned = -math.inf if self.reserved is None else self.reserved.planned
        return planned if planned < math.inf else -math.inf

    def _may_borrow(self, run: QueuedRun) -> bool:
        """Whether ``run`` may start on a loan: preemptible, expected to end in time."""
        return (
            run.preemptible
            and run.estimate is not None
            and self.now + run.estimate <= self.planned_end()
        )

    def _ends_in_time(self, run: QueuedRun) -> bool:
        """Whether ``run`` is sure to end before the blocked head could start (EASY backfill)."""
        return run.limit is not None and self.now + run.limit <= self.latest_end()

    def _update_full(self) -> None:
        """Note when no CPU is left to any run: what is free only changes on a start."""
        reserved = self.reserved
        kept = 0 if reserved is None or reserved.planned < math.inf else reserved.millicpus
        self.full = self.work.millicpus_free - kept <= 0


def blocked_head(
    queued: Iterable[QueuedRun], pool: Pool, now: float
) -> tuple[QueuedRun, Reserved] | None:
    """The run the next tick would keep capacity for, and what it keeps (``None``: no such run).

    That is the first queued run, in start order, that does not fit what is
    free: every run before it fits, so the last tick started it or the next
    one will.
    """
    fits: set[Request] = set()
    for run in queued:
        if run.request in fits:
            continue
        if pool.fit(run.id, run.request) is None:
            return run, reserve(pool, run.request, now)
        fits.add(run.request)
    return None


def loans_to_recall(head: QueuedRun, pool: Pool, priorities: Mapping[int, int]) -> list[int]:
    """The runs on loan to give back so that the blocked ``head`` starts now (fewest).

    A loan ahead of ``head`` in start order (``priorities``: each loan's
    priority) is no longer a loan: its run would go before the head anyway,
    so ``pool`` is told it keeps what it holds (the one change made here).
    Empty when the head fits already, or would not fit even with every loan
    back. The runs submitted last are recalled first.
    """
    loans = []
    for run_id, held in list(pool.held.items()):
        if not held.on_loan:
            continue
        if (-priorities.get(run_id, 0), run_id) < head.sort_key:
            pool.end_loan(run_id)
        else:
            loans.append(run_id)
    if not loans or pool.fit(head.id, head.request) is not None:
        return []
    return fewest_to_release(head, pool, sorted(loans, reverse=True)) or []


def fewest_to_release(head: QueuedRun, pool: Pool, order: list[int]) -> list[int] | None:
    """The fewest of ``order`` (held in ``pool``) to release for ``head`` to fit, or ``None``.

    Released in ``order`` until it fits, then any whose release was not needed
    is kept again (the first released are tried first).
    """
    work = pool.copy()
    chosen: list[int] = []
    for run_id in order:
        work.release(run_id)
        chosen.append(run_id)
        if work.fit(head.id, head.request) is not None:
            break
    else:
        return None
    for run_id in list(chosen):
        trial = pool.copy()
        for other in chosen:
            if other != run_id:
                trial.release(other)
        if trial.fit(head.id, head.request) is not None:
            chosen.remove(run_id)
    return chosen


class QueueIndex:
    """Queued runs kept in start order (priority, then id) as they come and go."""

    def __init__(self) -> None:
        """Start empty."""
        self._runs: list[QueuedRun] = []
        self._by_id: dict[int, QueuedRun] = {}
        self._disk: set[int] = set()  # runs that ask for disk (few; counted at each tick)

    def add(self, run: QueuedRun) -> None:
        """Queue ``run`` (a run already queued is left as it is)."""
        if run.id in self._by_id:
            return
        bisect.insort(self._runs, run)
        self._by_id[run.id] = run
        if run.request.disk:
            self._disk.add(run.id)

    def remove(self, run_id: int) -> None:
        """Take a run out of the queue (no-op when it is not queued)."""
        run = self._by_id.pop(run_id, None)
        if run is None:
            return
        self._disk.discard(run_id)
        index = bisect.bisect_left(self._runs, run)
        del self._runs[index]

    def without(self, run_ids: set[int]) -> QueueIndex:
        """A copy without ``run_ids`` (runs that may not start now for reasons of their own)."""
        copy = QueueIndex()
        copy._runs = [run for run in self._runs if run.id not in run_ids]
        copy._by_id = {run.id: run for run in copy._runs}
        copy._disk = self._disk - run_ids
        return copy

    def asking_disk(self) -> list[QueuedRun]:
        """The queued runs that ask for disk, in start order."""
        return sorted((self._by_id[run_id] for run_id in self._disk), key=lambda r: r.sort_key)

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
