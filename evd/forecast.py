"""When will a queued run start: the queue played forward with the scheduler itself.

Pure. The running runs end when their estimates say (or, past those, when their
timeouts must end them; with neither, nobody knows); each step asks the same
``evd.scheduler.tick`` the daemon uses what starts at that moment, then
moves the clock to the next expected end and gives back what that run held.
A queued run's expected start is the moment it starts in this play; a run
whose start depends on an end nobody can predict gets none. Only the first
``limit`` runs of the queue are played: the rest have no forecast, which keeps
the cost bounded on a queue of 10,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from evd.resources.pool import Pool
from evd.scheduler import Capacity, QueuedRun, tick

LIMIT = 200


@dataclass(frozen=True)
class Expected:
    """A queued run's expected start, and the run whose end lets it start (if one does)."""

    at: float
    after: int | None
    gpus: tuple[int, ...] = ()  # the devices it would get then
    until: float | None = None  # when it should end (its estimate, else its timeout)


def forecast(
    now: float,
    queued: Iterable[QueuedRun],
    ends: Mapping[int, float | None],
    capacity: Capacity,
    pool: Pool,
    *,
    limit: int = LIMIT,
) -> dict[int, Expected]:
    """The expected start of each queued run that has one (``queued`` in start order).

    ``ends``: each running run's expected end (``None``: unknown); ``pool`` holds
    what they hold and is not changed.
    """
    queue: list[QueuedRun] = []
    for run in queued:
        if len(queue) >= limit:
            break
        queue.append(run)
    by_id = {run.id: run for run in queue}
    work = pool.copy()
    pending = dict(ends)
    expected: dict[int, Expected] = {}
    clock, after = now, None
    for _ in range(2 * len(queue) + len(pending) + 1):
        for allocation in tick(clock, queue, len(pending), capacity, work):
            run = by_id[allocation.run_id]
            work.take(allocation)
            length = run.estimate if run.estimate is not None else run.limit
            end = None if length is None else clock + length
            expected[run.id] = Expected(clock, after, allocation.gpus, end)
            pending[run.id] = end
        queue = [run for run in queue if run.id not in expected]
        known = [(end, run_id) for run_id, end in pending.items() if end is not None]
        if not queue or not known:
            break
        clock, after = min(known)
        clock = max(clock, now)
        for end, run_id in known:
            if end <= clock:
                work.release(run_id)
                del pending[run_id]
    return expected


def expected_end(
    now: float, started: float, estimate: float | None, bound: float | None
) -> float | None:
    """When a running run should end: its estimate, else (once past it) its bound, else unknown.

    ``bound`` is when its timeout must end it.
    """
    if estimate is not None and started + estimate > now:
        return started + estimate
    if bound is not None and bound > now:
        return bound
    return None
