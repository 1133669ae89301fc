"""Warm workers and the pool: which run an idle worker takes, and which idle workers give way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evd.daemon.core.warm import WarmPool
from evd.daemon.core.workers import Worker
from evd.resources.pool import Allocation, Device, Pool
from evd.resources.request import MILLI, Request
from evd.scheduler import QueuedRun, QueueIndex
from evd.units import GIB


def worker(worker_id: int, key: str, cpus: float = 1, gpus: tuple[int, ...] = ()) -> Worker:
    held = Allocation(-worker_id, int(cpus * MILLI), 0, gpus, MILLI if gpus else 0)
    made = Worker(
        worker_id, key, key, Path("/"), "x", 1000 + worker_id, held, 60.0, 1, float(worker_id)
    )
    made.last_run = made.finished_run = 0  # idle: it finished its last run
    return made


class Workers:
    """The worker registry's surface the pool uses, without processes."""

    def __init__(self, *workers: Worker) -> None:
        self.workers = list(workers)
        self.retired: list[int] = []

    def __iter__(self) -> Any:
        return iter(self.workers)

    def assign(self, worker: Worker, run_id: int) -> None:
        worker.serving = worker.last_run = run_id

    def retire(self, worker: Worker) -> None:
        worker.retiring = True
        self.retired.append(worker.id)


class Dispatch:
    """Dispatch's surface the pool uses: a queue, a pool, slots."""

    def __init__(self, pool: Pool, *runs: QueuedRun, parallel: int | None = None) -> None:
        self.pool = pool
        self.queue = QueueIndex()
        for run in runs:
            self.queue.add(run)
        self.parallel = parallel
        self.running: dict[int, object] = {}

    def clock(self) -> float:
        return 100.0


def holding(pool: Pool, *workers: Worker) -> Pool:
    for one in workers:
        pool.take(one.allocation)
    return pool


def warm(dispatch: Dispatch, workers: Workers) -> WarmPool:
    return WarmPool(dispatch, workers)  # type: ignore[arg-type]


def test_an_idle_worker_takes_the_first_queued_run_of_its_job_on_what_it_holds() -> None:
    gpu_worker = worker(1, "model", gpus=(1,))
    pool = holding(Pool(8, 64 * GIB, [Device(0, 24 * GIB), Device(1, 24 * GIB)]), gpu_worker)
    dispatch = Dispatch(
        pool,
        QueuedRun(5, request=Request(gpus=1)),  # another job
        QueuedRun(6, request=Request(gpus=1), limit=30.0, warm="model"),
        QueuedRun(7, request=Request(gpus=1), warm="model"),
    )
    [start] = warm(dispatch, Workers(gpu_worker)).starts()
    assert (start.run_id, start.gpus, start.ends_by) == (6, (1,), 130.0)
    assert gpu_worker.serving == 6 and -1 not in pool.held  # the run holds it now
    assert [run.id for run in dispatch.queue] == [5, 7]


def test_warm_starts_keep_within_the_parallel_cap() -> None:
    idle = worker(1, "model")
    dispatch = Dispatch(holding(Pool(8, 64 * GIB, []), idle), QueuedRun(6, warm="model"))
    dispatch.parallel, dispatch.running = 1, {3: object()}
    assert warm(dispatch, Workers(idle)).starts() == []
    assert idle.serving is None


def test_idle_workers_give_way_to_a_waiting_run_that_needs_what_they_hold() -> None:
    old, new = worker(1, "a", gpus=(0,)), worker(2, "b", gpus=(1,))
    pool = holding(Pool(8, 64 * GIB, [Device(0, 24 * GIB), Device(1, 24 * GIB)]), old, new)
    workers = Workers(old, new)
    warm(Dispatch(pool, QueuedRun(9, request=Request(gpus=1))), workers).reclaim()
    assert workers.retired == [1]  # one was enough: the one started first


def test_idle_workers_stay_when_the_head_fits_never_fits_or_is_their_own() -> None:
    gpu_worker = worker(1, "model", gpus=(0,))
    for head in (
        QueuedRun(9, request=Request(cpus=1)),  # fits beside it
        QueuedRun(9, request=Request(gpus=2)),  # would not fit without it either
        QueuedRun(9, request=Request(gpus=1), warm="model"),  # the worker's own: it takes it
    ):
        pool = holding(Pool(8, 64 * GIB, [Device(0, 24 * GIB)]), gpu_worker)
        workers = Workers(gpu_worker)
        warm(Dispatch(pool, head), workers).reclaim()
        assert workers.retired == [], head


def test_runs_wait_for_their_job_s_workers_when_it_has_as_many_as_its_replicas() -> None:
    busy, other, leaving = worker(1, "model"), worker(2, "other"), worker(3, "other")
    busy.serving = 4
    other.replicas = 2
    leaving.retiring = True
    dispatch = Dispatch(
        Pool(8, 64 * GIB, []),
        QueuedRun(5, warm="model"),  # its job's one worker is busy: it waits
        QueuedRun(6, warm="other"),  # one of two replicas (the retiring one does not count)
        QueuedRun(7),
    )
    assert warm(dispatch, Workers(busy, other, leaving)).blocked() == {5}
