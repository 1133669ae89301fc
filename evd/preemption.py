"""Which running runs to stop so that a more urgent one can start: the victims of a preemption.

Pure: a ``Pool``, the blocked run and the running runs that may be stopped in,
a list of run ids out. Only preemptible runs of lower priority that have run
at least the minimum time may be chosen (so nothing thrashes); among them the
most recently started go first (they lose the least work), and any whose
release turns out not to be needed is spared again, so as few runs as
possible stop. ``None`` when no choice lets the run start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from evd.resources.pool import Pool
from evd.scheduler import QueuedRun, fewest_to_release


@dataclass(frozen=True)
class Candidate:
    """A running run as preemption sees it."""

    run_id: int
    priority: int
    started_at: float
    preemptible: bool


def victims(
    head: QueuedRun,
    pool: Pool,
    running: Iterable[Candidate],
    *,
    now: float,
    min_run_time: float,
) -> list[int] | None:
    """The fewest runs to stop for ``head`` to fit ``pool``, most recently started first."""
    if pool.fit(head.id, head.request) is not None:
        return []  # it fits already: nothing to stop
    eligible = sorted(
        (
            run
            for run in running
            if run.preemptible
            and run.priority < head.priority
            and now - run.started_at >= min_run_time
            and run.run_id in pool.held
        ),
        key=lambda run: (-run.started_at, -run.run_id),
    )
    return fewest_to_release(head, pool, [run.run_id for run in eligible])
