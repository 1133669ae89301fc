"""The scheduler: start order, slots, GPUs whole and shared, backfill, reasons."""

from evd.reasons import why_waiting
from evd.reservation import reserve
from evd.resources.pool import Device, Pool
from evd.resources.request import Request
from evd.scheduler import Capacity, QueuedRun, QueueIndex, tick
from evd.units import GIB


def make_queue(*runs: QueuedRun) -> QueueIndex:
    queue = QueueIndex()
    for run in runs:
        queue.add(run)
    return queue


def machine(cpus: float = 64, gpus: int = 0, gpu_gib: int = 24) -> Pool:
    return Pool(cpus, 256 * GIB, [Device(i, gpu_gib * GIB) for i in range(gpus)])


def started(queue: QueueIndex, pool: Pool, running: int = 0, slots: int = 100) -> list[int]:
    return [a.run_id for a in tick(0.0, queue, running, Capacity(slots=slots), pool)]


def test_starts_in_submit_order_up_to_the_free_slots() -> None:
    queue = make_queue(QueuedRun(3), QueuedRun(1), QueuedRun(2))
    assert started(queue, machine(), slots=2) == [1, 2]
    assert started(queue, machine(), running=1, slots=2) == [1]
    assert started(queue, machine(), running=2, slots=2) == []


def test_higher_priority_goes_first_then_submit_order() -> None:
    queue = make_queue(
        QueuedRun(1), QueuedRun(2, priority=5), QueuedRun(3, priority=5), QueuedRun(4, priority=-1)
    )
    assert started(queue, machine()) == [2, 3, 1, 4]


def test_draining_starts_nothing() -> None:
    queue = make_queue(QueuedRun(1))
    assert tick(0.0, queue, 0, Capacity(slots=4, draining=True), machine()) == []


def test_tick_is_pure() -> None:
    queue = make_queue(QueuedRun(1), QueuedRun(2))
    pool = machine(cpus=1)
    assert started(queue, pool) == started(queue, pool) == [1]
    assert [run.id for run in queue] == [1, 2] and pool.held == {}


def test_cpus_are_counted_and_may_be_fractional() -> None:
    quarter = Request(cpus=0.25)
    queue = make_queue(*(QueuedRun(i, request=quarter) for i in range(1, 7)))
    assert started(queue, machine(cpus=1)) == [1, 2, 3, 4]


def test_whole_gpus_go_to_different_devices() -> None:
    one = Request(gpus=1)
    queue = make_queue(*(QueuedRun(i, request=one) for i in range(1, 6)))
    allocations = tick(0.0, queue, 0, Capacity(slots=100), machine(gpus=4))
    assert [a.gpus for a in allocations] == [(0,), (1,), (2,), (3,)]


def test_fractions_share_a_device_by_memory_best_fit_never_overcommitted() -> None:
    pool = Pool(64, 256 * GIB, [Device(0, 24 * GIB), Device(1, 16 * GIB)])
    small = Request(gpus=0.5, gpu_memory=10 * GIB)
    queue = make_queue(*(QueuedRun(i, request=small) for i in range(1, 5)))
    allocations = tick(0.0, queue, 0, Capacity(slots=100), pool)
    # Best fit: the 16 GiB device takes the first (6 GiB left is the tightest), then
    # the 24 GiB one takes two; a fourth would over-commit memory on either.
    assert [(a.run_id, a.gpus) for a in allocations] == [(1, (1,)), (2, (0,)), (3, (0,))]
    for allocation in allocations:
        pool.take(allocation)
    assert all(d.memory_claimed <= d.memory_total for d in pool.devices.values())
    assert pool.devices[0].share_used == 1.0


def test_a_device_held_whole_is_not_shared_and_vice_versa() -> None:
    pool = machine(gpus=1)
    queue = make_queue(
        QueuedRun(1, request=Request(gpus=0.25)), QueuedRun(2, request=Request(gpus=1))
    )
    (first,) = tick(0.0, queue, 0, Capacity(slots=100), pool)
    pool.take(first)
    queue.remove(1)
    assert started(queue, pool) == []


def test_backfill_runs_small_jobs_but_never_on_what_the_waiting_big_one_needs() -> None:
    pool = machine(gpus=2)
    busy = tick(0.0, make_queue(QueuedRun(1, request=Request(gpus=1))), 0, Capacity(100), pool)
    pool.take(busy[0])  # GPU0 is busy
    queue = make_queue(
        QueuedRun(2, request=Request(gpus=2)),  # waits for both GPUs
        QueuedRun(3, request=Request(gpus=1)),  # would take GPU1, delaying run 2: must wait
        QueuedRun(4, request=Request(cpus=1)),  # CPU only: backfills
    )
    assert started(queue, pool) == [4]
    pool.release(1)
    assert started(queue, pool) == [2, 4]


def test_a_big_cpu_job_is_not_starved_by_a_stream_of_small_ones() -> None:
    pool = machine(cpus=4)
    first = tick(0.0, make_queue(QueuedRun(1, request=Request(cpus=2))), 0, Capacity(100), pool)
    pool.take(first[0])
    queue = make_queue(QueuedRun(2, request=Request(cpus=4)), QueuedRun(3, request=Request(cpus=2)))
    assert started(queue, pool) == []  # the free 2 CPUs are kept for run 2
    pool.release(1)
    assert started(queue, pool) == [2]


def test_requests_that_can_never_start_are_named() -> None:
    pool = machine(cpus=8, gpus=2, gpu_gib=24)
    assert pool.never_fits(Request(gpus=1)) is None
    assert "asks for 4 GPUs; this machine has 2" in (pool.never_fits(Request(gpus=4)) or "")
    assert "largest GPU here has 24.0 GiB" in (
        pool.never_fits(Request(gpus=1, gpu_memory=80 * GIB)) or ""
    )
    assert "16 CPUs" in (pool.never_fits(Request(cpus=16)) or "")
    assert "none evd can use" in (machine().never_fits(Request(gpus=0.5)) or "")


def test_reasons_say_who_holds_what() -> None:
    pool = machine(gpus=2)
    for run_id in (12, 14):
        (allocation,) = tick(
            0.0, make_queue(QueuedRun(run_id, request=Request(gpus=1))), 0, Capacity(100), pool
        )
        pool.take(allocation)
    names = {12: "run 12 (alpha)", 14: "run 14 (beta)"}
    reason = why_waiting(Request(gpus=2, gpu_memory=20 * GIB), pool, 0, names.__getitem__)
    assert reason == (
        "needs 2 GPUs, 20.0 GiB of GPU memory, 1 CPU; 0 GPU(s) free:"
        " GPU0 held by run 12 (alpha); GPU1 held by run 14 (beta)"
    )
    assert why_waiting(Request(), pool, 3, names.__getitem__).endswith(
        "3 run(s) ahead of it in the queue"
    )


def test_queue_index_add_remove_membership() -> None:
    queue = make_queue(QueuedRun(1), QueuedRun(2, priority=1))
    queue.add(QueuedRun(2, priority=1))  # already queued: no duplicate
    assert [run.id for run in queue] == [2, 1]
    queue.remove(2)
    queue.remove(99)  # not queued: no-op
    assert 2 not in queue and 1 in queue and len(queue) == 1
    queue.add(QueuedRun(3, priority=2))
    assert (queue.position(3), queue.position(1), queue.position(2)) == (0, 1, None)


def start_at(pool: Pool, now: float, run: QueuedRun) -> None:
    """Start ``run`` alone at ``now`` and hold what it gets."""
    (allocation,) = tick(now, make_queue(run), 0, Capacity(100), pool)
    pool.take(allocation)


def test_a_run_whose_timeout_ends_before_the_head_could_start_may_use_its_devices() -> None:
    pool = machine(gpus=2)
    start_at(pool, 0.0, QueuedRun(1, request=Request(gpus=1), limit=600))  # GPU0 until 600
    queue = make_queue(
        QueuedRun(2, request=Request(gpus=2)),  # the head: sure to fit at 600
        QueuedRun(3, request=Request(gpus=1), limit=900),  # would end after 600: waits
        QueuedRun(4, request=Request(gpus=1)),  # no timeout, no known end: waits
        QueuedRun(5, request=Request(gpus=1), limit=300),  # ends by 400: takes GPU1
    )
    (allocation,) = tick(100.0, queue, 1, Capacity(100), pool)
    assert (allocation.run_id, allocation.gpus, allocation.ends_by) == (5, (1,), 400.0)
    assert started(queue, pool) == [5]  # later, not in time any more: 0 + 300 <= 600 still


def test_no_run_may_use_what_the_head_waits_for_while_a_holder_has_no_known_end() -> None:
    pool = machine(gpus=2)
    start_at(pool, 0.0, QueuedRun(1, request=Request(gpus=1)))  # no timeout
    queue = make_queue(
        QueuedRun(2, request=Request(gpus=2)),
        QueuedRun(3, request=Request(gpus=1), limit=1),
    )
    assert started(queue, pool) == []


def test_the_shadow_time_follows_the_ends_of_what_the_head_needs() -> None:
    pool = machine(cpus=4, gpus=3, gpu_gib=80)
    start_at(pool, 0.0, QueuedRun(1, request=Request(gpus=1, cpus=1), limit=500))
    start_at(pool, 0.0, QueuedRun(2, request=Request(gpus=1, cpus=1), limit=200))
    start_at(pool, 0.0, QueuedRun(3, request=Request(gpus=0.5, cpus=1), limit=100))
    # Two whole GPUs: GPU2 frees at 100 (its share), then GPU1 at 200.
    assert reserve(pool, Request(gpus=2), 0.0).until == 200.0
    assert reserve(pool, Request(gpus=2), 0.0).devices == {1, 2}
    # Three CPUs: one is free, the next two come back at 100 and 200.
    assert reserve(pool, Request(cpus=3), 0.0).until == 200.0
    # Half a GPU fits beside the running share now; a whole one's memory at 100.
    assert reserve(pool, Request(gpus=0.5), 50.0).until == 50.0
    assert reserve(pool, Request(gpus=0.75), 50.0).until == 100.0
