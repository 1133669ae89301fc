"""Invariants of the scheduler on random machines and queues (hypothesis)."""

import heapq
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from evd.reservation import reserve
from evd.resources.pool import Device, Pool
from evd.resources.request import MILLI, Request
from evd.scheduler import Capacity, QueuedRun, QueueIndex, tick
from evd.units import GIB

requests = st.builds(
    Request,
    cpus=st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]),
    memory=st.sampled_from([0, 1 * GIB, 8 * GIB]),
    gpus=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]),
    gpu_memory=st.sampled_from([0, 4 * GIB, 12 * GIB]),
)
machines = st.builds(
    lambda cpus, sizes: Pool(cpus, 32 * GIB, [Device(i, s * GIB) for i, s in enumerate(sizes)]),
    cpus=st.sampled_from([1.0, 2.0, 8.0]),
    sizes=st.lists(st.sampled_from([16, 24, 80]), max_size=4),
)
queues = st.lists(st.tuples(st.integers(-1, 2), requests), max_size=30)


def run_ticks(pool: Pool, items: list[tuple[int, Request]]) -> list[int]:
    """Tick until nothing more starts; take every start; return the start order."""
    queue = QueueIndex()
    for run_id, (priority, request) in enumerate(items, 1):
        queue.add(QueuedRun(run_id, priority, request))
    order = []
    while True:
        starts = tick(0.0, queue, 0, Capacity(slots=1000), pool)
        if not starts:
            return order
        for allocation in starts:
            pool.take(allocation)
            queue.remove(allocation.run_id)
            order.append(allocation.run_id)


@settings(max_examples=200, deadline=None)
@given(machines, queues)
def test_nothing_is_ever_overcommitted(pool: Pool, items: list[tuple[int, Request]]) -> None:
    run_ticks(pool, items)
    assert pool.millicpus_used <= pool.millicpus
    assert pool.memory_used <= pool.memory
    for device in pool.devices.values():
        assert device.memory_claimed + device.memory_external <= device.memory_total
        assert device.milli_share_used <= MILLI
        if device.whole:
            assert len(device.holders) == 1
    for allocation in pool.held.values():
        request = items[allocation.run_id - 1][1]
        assert len(allocation.gpus) == (request.whole_gpus or (1 if request.gpu_share else 0))


@settings(max_examples=200, deadline=None)
@given(machines, queues)
def test_tick_is_pure_and_release_restores_the_pool(
    pool: Pool, items: list[tuple[int, Request]]
) -> None:
    before = (pool.millicpus_used, pool.memory_used)
    queue = QueueIndex()
    for run_id, (priority, request) in enumerate(items, 1):
        queue.add(QueuedRun(run_id, priority, request))
    first = tick(0.0, queue, 0, Capacity(slots=1000), pool)
    assert first == tick(0.0, queue, 0, Capacity(slots=1000), pool)
    assert (pool.millicpus_used, pool.memory_used) == before and pool.held == {}
    for allocation in first:
        pool.take(allocation)
    for allocation in first:
        pool.release(allocation.run_id)
    assert pool.millicpus_used == 0 and pool.memory_used == 0
    assert all(not d.holders and d.memory_claimed == 0 for d in pool.devices.values())


@settings(max_examples=200, deadline=None)
@given(machines, queues)
def test_the_head_of_the_queue_starts_first_when_it_fits(
    pool: Pool, items: list[tuple[int, Request]]
) -> None:
    queue = QueueIndex()
    for run_id, (priority, request) in enumerate(items, 1):
        queue.add(QueuedRun(run_id, priority, request))
    starts = tick(0.0, queue, 0, Capacity(slots=1000), pool)
    head = next(iter(queue), None)
    if head is not None and pool.fit(head.id, head.request) is not None:
        assert starts[0].run_id == head.id


limited_queues = st.lists(
    st.tuples(
        st.integers(-1, 2),
        requests,
        st.one_of(st.none(), st.integers(1, 100)),  # --timeout
        st.floats(0.05, 1.0),  # how much of its timeout it runs
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(machines, limited_queues)
def test_a_blocked_head_starts_by_its_shadow_time(
    pool: Pool, items: list[tuple[int, Request, int | None, float]]
) -> None:
    """EASY backfill never delays the head past the time its shadow promised."""
    queue = QueueIndex()
    runs = {}
    for run_id, (priority, request, limit, part) in enumerate(items, 1):
        if pool.never_fits(request) is None:
            runs[run_id] = (request, limit, part)
            queue.add(QueuedRun(run_id, priority, request, limit))
    ends: list[tuple[float, int]] = []
    promised: dict[int, float] = {}  # head -> the earliest shadow time it was given
    now = 0.0
    while len(queue):
        for allocation in tick(now, queue, len(ends), Capacity(None), pool):
            request, limit, part = runs[allocation.run_id]
            assert now <= promised.get(allocation.run_id, math.inf) + 1e-9
            pool.take(allocation)
            queue.remove(allocation.run_id)
            # A run without a timeout runs 50 time units at most, here.
            heapq.heappush(ends, (now + part * (limit or 50), allocation.run_id))
        head = next(iter(queue), None)
        if head is not None:
            until = reserve(pool, head.request, now).until
            promised[head.id] = min(promised.get(head.id, math.inf), until)
        if not ends:
            break
        now, run_id = heapq.heappop(ends)
        pool.release(run_id)
    assert not len(queue)
