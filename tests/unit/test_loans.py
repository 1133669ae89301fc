"""Loans: preemptible runs backfilled on their estimates never delay the head (hypothesis).

The estimates here are wrong on purpose (a fifth to three times the real
length). A simulation steps the real ``tick`` and ``loans_to_recall`` on a
clock: runs start, end when they really end, and a loan the head needs back
is requeued at once (its work lost).
"""

import heapq
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from evd.reservation import reserve
from evd.resources.pool import Device, Pool
from evd.resources.request import Request
from evd.scheduler import Capacity, QueuedRun, QueueIndex, loans_to_recall, tick
from evd.units import GIB

requests = st.builds(
    Request,
    cpus=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
    memory=st.sampled_from([0, 1 * GIB, 8 * GIB]),
    gpus=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]),
    gpu_memory=st.sampled_from([0, 4 * GIB, 12 * GIB]),
)
machines = st.builds(
    lambda cpus, sizes: Pool(cpus, 32 * GIB, [Device(i, s * GIB) for i, s in enumerate(sizes)]),
    cpus=st.sampled_from([2.0, 8.0]),
    sizes=st.lists(st.sampled_from([24, 80]), min_size=1, max_size=3),
)
workloads = st.lists(
    st.tuples(
        st.integers(0, 2),  # priority
        requests,
        st.integers(1, 60),  # how long it really runs
        st.floats(0.2, 3.0),  # its estimate, as a part of that (wrong on purpose)
        st.booleans(),  # preemptible
        st.one_of(st.none(), st.integers(1, 100)),  # --timeout (at least its length)
    ),
    min_size=1,
    max_size=20,
)


def without_loans(pool: Pool) -> Pool:
    """``pool`` as it would be had no loan been granted."""
    work = pool.copy()
    for run_id, held in pool.held.items():
        if held.on_loan:
            work.release(run_id)
    return work


@settings(max_examples=300, deadline=None)
@given(machines, workloads)
def test_a_loan_never_keeps_the_head_waiting(pool: Pool, items: list[tuple]) -> None:
    """Whenever the head would fit without the loans, it starts at that moment.

    And it still starts by the sure shadow time (from timeouts) it was ever given.
    """
    queue = QueueIndex()
    runs: dict[int, QueuedRun] = {}
    lengths: dict[int, float] = {}
    for run_id, (priority, request, length, guess, preemptible, timeout) in enumerate(items, 1):
        if pool.never_fits(request) is not None:
            continue
        limit = None if timeout is None else float(max(timeout, length))
        runs[run_id] = QueuedRun(
            run_id, priority, request, limit, estimate=length * guess, preemptible=preemptible
        )
        lengths[run_id] = float(length)
        queue.add(runs[run_id])
    ends: list[tuple[float, int, int]] = []  # (when, run, attempt)
    attempt = dict.fromkeys(runs, 0)
    promised: dict[int, float] = {}  # head -> the earliest sure shadow time it was given
    loans = recalls = 0
    now = 0.0
    for _ in range(10_000):
        while True:  # start what may start, recall what the head needs back, again
            for allocation in tick(now, queue, len(ends), Capacity(None), pool):
                run_id = allocation.run_id
                assert now <= promised.get(run_id, math.inf) + 1e-9
                assert not allocation.on_loan or runs[run_id].preemptible
                loans += allocation.on_loan
                pool.take(allocation)
                queue.remove(run_id)
                heapq.heappush(ends, (now + lengths[run_id], run_id, attempt[run_id]))
            head = next(iter(queue), None)
            priorities = {run_id: runs[run_id].priority for run_id in pool.held}
            recall = [] if head is None else loans_to_recall(head, pool, priorities)
            if not recall:
                break
            for run_id in recall:
                assert pool.held[run_id].on_loan
                pool.release(run_id)
                attempt[run_id] += 1  # its end event is void
                queue.add(runs[run_id])
                recalls += 1
        head = next(iter(queue), None)
        if head is not None:
            free = without_loans(pool)
            assert free.fit(head.id, head.request) is None, "a loan held the head"
            until = reserve(free, head.request, now).until
            promised[head.id] = min(promised.get(head.id, math.inf), until)
        while ends and ends[0][2] != attempt[ends[0][1]]:
            heapq.heappop(ends)
        if not ends:
            break
        now, run_id, _ = heapq.heappop(ends)
        pool.release(run_id)
    assert not len(queue), "every run ran to its end"
    assert loans >= recalls


def test_a_preemptible_run_borrows_on_its_estimate_and_is_recalled_when_the_head_fits() -> None:
    pool = Pool(4.0, 32 * GIB, [Device(0, 80 * GIB)])
    long_run = QueuedRun(1, 0, Request(cpus=1, gpus=1), estimate=100.0)
    for allocation in tick(0.0, [long_run], 0, Capacity(None), pool):
        pool.take(allocation)
    head = QueuedRun(2, 0, Request(cpus=2, gpus=1))  # keeps 2 of the 3 free CPUs
    sure = QueuedRun(3, 0, Request(cpus=3), estimate=50.0)  # not preemptible: waits
    loan = QueuedRun(4, 0, Request(cpus=3), estimate=50.0, preemptible=True)
    late = QueuedRun(5, 0, Request(cpus=3), estimate=150.0, preemptible=True)
    starts = tick(0.0, [head, sure, loan, late], 1, Capacity(None), pool)
    assert [(a.run_id, a.on_loan, a.expected_by) for a in starts] == [(4, True, 50.0)]
    pool.take(starts[0])
    assert loans_to_recall(head, pool, {4: 0}) == []  # the GPU is still held: the loan stays
    pool.release(1)  # the GPU job ends; the head needs CPUs the loan holds
    assert loans_to_recall(head, pool, {4: 0}) == [4]
    assert loans_to_recall(head, pool, {4: 1}) == []  # ahead of the head: it keeps it
    assert not pool.held[4].on_loan
