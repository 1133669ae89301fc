"""Choosing the runs a preemption stops: fewest, newest first, never the protected ones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evd.preemption import Candidate, victims
from evd.resources.pool import Device, Pool
from evd.resources.request import Request
from evd.scheduler import QueuedRun
from evd.units import GIB


def machine(gpus: int = 4) -> Pool:
    return Pool(16, 64 * GIB, [Device(i, 24 * GIB) for i in range(gpus)])


def running(pool: Pool, *runs: tuple[int, Request]) -> Pool:
    for run_id, request in runs:
        allocation = pool.fit(run_id, request)
        assert allocation is not None
        pool.take(allocation)
    return pool


def cand(run_id: int, started: float, priority: int = 0, preemptible: bool = True) -> Candidate:
    return Candidate(run_id, priority, started, preemptible)


GPU = Request(gpus=1)
TWO = Request(gpus=2)


def test_the_newest_preemptible_run_of_lower_priority_goes_first() -> None:
    pool = running(machine(), (1, GPU), (2, GPU), (3, GPU), (4, GPU))
    head = QueuedRun(9, priority=5, request=GPU)
    found = victims(
        head, pool, [cand(1, 10), cand(2, 30), cand(3, 20), cand(4, 40, preemptible=False)],
        now=100, min_run_time=0,
    )  # fmt: skip
    assert found == [2]
    assert len(pool.held) == 4  # the pool is left as it was


def test_as_few_as_possible_are_stopped() -> None:
    pool = running(machine(), (1, TWO), (2, GPU), (3, GPU))
    older_first = [cand(1, 10), cand(2, 20), cand(3, 30)]
    head = QueuedRun(9, priority=5, request=TWO)
    # Run 1 alone would free two GPUs too, but it is the oldest: the newest go first.
    assert victims(head, pool, older_first, now=99, min_run_time=0) == [3, 2]
    # Three GPUs: newest first takes 3, 2 and 1; 3 turns out not to be needed and is spared.
    wide = QueuedRun(9, priority=5, request=Request(gpus=3))
    assert victims(wide, pool, older_first, now=99, min_run_time=0) == [2, 1]


def test_protected_runs_are_never_chosen() -> None:
    pool = running(machine(1), (1, GPU))
    head = QueuedRun(9, priority=5, request=GPU)
    assert victims(head, pool, [cand(1, 0, preemptible=False)], now=99, min_run_time=0) is None
    assert victims(head, pool, [cand(1, 0, priority=5)], now=99, min_run_time=0) is None
    assert victims(head, pool, [cand(1, 90)], now=99, min_run_time=60) is None  # too young
    assert victims(head, pool, [cand(1, 30)], now=99, min_run_time=60) == [1]
    assert victims(head, machine(1), [], now=99, min_run_time=0) == []  # it fits already


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 2), st.integers(0, 100), st.booleans()), max_size=6),
    st.integers(1, 4),
)
def test_what_is_chosen_is_enough_minimal_and_allowed(
    runs: list[tuple[int, int, bool]], wanted: int
) -> None:
    pool = machine(4)
    candidates = []
    for index, (gpus, started, preemptible) in enumerate(runs, start=1):
        allocation = pool.fit(index, Request(gpus=gpus))
        if allocation is None:
            continue
        pool.take(allocation)
        candidates.append(cand(index, started, priority=0, preemptible=preemptible))
    head = QueuedRun(99, priority=1, request=Request(gpus=wanted))
    found = victims(head, pool, candidates, now=200, min_run_time=0)
    allowed = {c.run_id for c in candidates if c.preemptible}
    if found is None:
        trial = pool.copy()
        for run_id in allowed:
            trial.release(run_id)
        assert trial.fit(99, head.request) is None  # even all of them would not do
        return
    assert set(found) <= allowed
    trial = pool.copy()
    for run_id in found:
        trial.release(run_id)
    assert trial.fit(99, head.request) is not None  # enough
    for spared in found:  # and none of them could have been spared
        again = pool.copy()
        for run_id in found:
            if run_id != spared:
                again.release(run_id)
        assert again.fit(99, head.request) is None
