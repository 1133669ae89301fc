"""Why a queued run waits: one test for each kind of reason, and exact fractional accounting."""

import itertools

from evd.reasons import why_waiting
from evd.resources.pool import Device, Pool
from evd.resources.request import Request
from evd.scheduler import Capacity, QueuedRun, QueueIndex, blocked_head, tick
from evd.units import GIB

NAMES = {1: "run 1 (train)", 2: "run 2 (big)", 3: "run 3 (small)", 4: "run 4 (x)"}


def machine(cpus: float = 2, gpus: int = 2, memory_gib: int = 16) -> Pool:
    return Pool(cpus, memory_gib * GIB, [Device(i, 24 * GIB) for i in range(gpus)])


def hold(pool: Pool, run_id: int, request: Request, limit: float | None = None) -> None:
    queue = QueueIndex()
    queue.add(QueuedRun(run_id, request=request, limit=limit))
    (allocation,) = tick(0.0, queue, 0, Capacity(None), pool)
    pool.take(allocation)


def reason(pool: Pool, request: Request, *queued: QueuedRun, ahead: int = 0) -> str:
    queue = QueueIndex()
    for run in queued:
        queue.add(run)
    head = blocked_head(queue, pool, 0.0)
    return why_waiting(request, pool, ahead, NAMES.__getitem__, head=head)


def test_a_cpu_kept_for_the_head_is_named_with_why_the_head_waits() -> None:
    """Run 1 on GPU0, run 2 wants both GPUs: run 3's free CPU is kept for run 2, and said so."""
    pool = machine()
    hold(pool, 1, Request(gpus=1))
    big, small = Request(gpus=2), Request()
    text = reason(pool, small, QueuedRun(2, request=big), QueuedRun(3, request=small), ahead=1)
    assert text == (
        "1 CPU kept for run 2 (big), which needs 2 GPUs, 1 CPU;"
        " 1 GPU(s) free: GPU0 held by run 1 (train)"
    )
    assert "its turn" not in text


def test_a_device_kept_for_the_head_is_named() -> None:
    pool = machine(cpus=8)
    hold(pool, 1, Request(gpus=1))
    big, one = Request(gpus=2), Request(gpus=1)
    text = reason(pool, one, QueuedRun(2, request=big), QueuedRun(3, request=one), ahead=1)
    assert text.startswith("GPU1 kept for run 2 (big), which needs 2 GPUs")


def test_kept_capacity_says_when_a_timeout_would_let_a_run_use_it() -> None:
    pool = machine()
    hold(pool, 1, Request(gpus=1), limit=600)
    big, small = Request(gpus=2), Request()
    text = reason(pool, small, QueuedRun(2, request=big), QueuedRun(3, request=small), ahead=1)
    assert text.endswith("(a run whose --timeout ends within 10m00s may use it)")


def test_shortfalls_name_what_is_missing_and_who_holds_it() -> None:
    pool = machine(cpus=2, gpus=1)
    hold(pool, 1, Request(cpus=1.5, memory=12 * GIB, gpus=0.5))
    assert reason(pool, Request(cpus=1)) == "needs 1 CPU; 0.5 CPU(s) free"
    assert reason(pool, Request(cpus=0.5, memory=8 * GIB)) == (
        "needs 0.5 CPUs, 8.0 GiB; 4.0 GiB of memory unreserved"
    )
    assert reason(pool, Request(cpus=0.1, gpus=0.6)) == (
        "needs 0.6 of a GPU, 0.1 CPUs: GPU0 has 12.0 GiB and 0.5 of its share free (run 1 (train))"
    )


def test_waiting_for_its_turn_only_when_nothing_else_is_true() -> None:
    pool = machine()
    assert reason(pool, Request(), QueuedRun(3), ahead=2) == (
        "waiting for its turn: 2 run(s) ahead of it in the queue"
    )


def test_a_drained_device_is_named_for_runs_that_want_a_gpu() -> None:
    pool = machine(gpus=1)
    pool.devices[0].problem = "Xid 79 (fallen off the bus)"
    text = reason(pool, Request(gpus=1))
    assert text.endswith("GPU0 drained: Xid 79 (fallen off the bus)")
    assert "drained" not in reason(pool, Request())


def test_fifty_fractional_runs_leave_exactly_the_machines_cpus_free() -> None:
    pool = machine(cpus=2, gpus=0)
    for run_id, cpus in zip(range(1, 51), itertools.cycle((0.1, 0.2, 0.3)), strict=False):
        hold(pool, run_id, Request(cpus=cpus))
        if run_id % 3 == 0:
            for held in list(pool.held):
                pool.release(held)
    for held in list(pool.held):
        pool.release(held)
    assert pool.millicpus_free == 2000 and pool.cpus_free == 2.0
    assert (
        reason(pool, Request(cpus=2)) == "waiting for its turn: 0 run(s) ahead of it in the queue"
    )
