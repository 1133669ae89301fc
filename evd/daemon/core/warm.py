"""Warm workers and the scheduler: what a worker holds, which run it gets, when it goes.

A worker (``evd.daemon.core.workers``) starts with the resources of the run it
was started for, and holds them while it lives, serving or not: its process
keeps its GPU memory (a model loaded once). Between runs they are held in the
pool under the worker's own id (negative; runs' are positive), so nothing else
is placed on them. Before each scheduler tick, an idle worker takes the first
queued run of its job (same key: same code, environment, function and
resources) on exactly what it holds. A job has at most ``replicas`` workers:
while it has that many, its other queued runs are kept out of the scheduler's
view until one is idle; a run of a job with room for another is scheduled as
usual and starts one. When a run ends its worker holds its resources again
and, once it says it is idle, waits ``idle_ttl`` for another run before it
retires.

Idle workers never starve other work: after a tick, if the first waiting run
that no idle worker takes would fit once some idle workers were gone, those
(least recently started first) are retired; their resources come back when
their processes have exited (GPU memory is only free then), and the run starts
on the tick that follows.
"""

from __future__ import annotations

import dataclasses
import logging

from evd.daemon.core.dispatch import Dispatch
from evd.daemon.core.outcomes import read_tail
from evd.daemon.core.workers import Worker, Workers
from evd.daemon.monitor.usage import HARD_STOPS
from evd.resources.pool import Allocation
from evd.runner.logcap import note_in_log

log = logging.getLogger("evd.warm")


class WarmPool:
    """Places runs on idle workers, keeps workers' resources held, reclaims idle ones."""

    def __init__(self, dispatch: Dispatch, workers: Workers) -> None:
        """Hook into ``dispatch``'s ticks and ``workers``' news."""
        self.dispatch = dispatch
        self.workers = workers
        dispatch.warm_starts = self.starts
        dispatch.on_freed = self.freed
        dispatch.after_tick = self.reclaim
        workers.on_idle = self.idle
        workers.on_exit = self.exited

    def starts(self) -> list[Allocation]:
        """Queued runs handed to idle workers of their job, each on what its worker holds."""
        idle = [worker for worker in self.workers if worker.idle]
        queue = self.dispatch.queue
        if not idle or not len(queue):
            return []
        slots = self.dispatch.parallel
        live = len(self.dispatch.running)
        starts: list[Allocation] = []
        for worker in idle:
            if slots is not None and live + len(starts) >= slots:
                break
            queued = next((run for run in queue if run.warm == worker.key), None)
            if queued is None:
                continue
            queue.remove(queued.id)
            pool = self.dispatch.pool
            pool.release(worker.pool_id)
            self.workers.assign(worker, queued.id)
            allocation = pool.allocation_of(queued.id, queued.request, list(worker.allocation.gpus))
            now = self.dispatch.clock()
            allocation = dataclasses.replace(
                allocation,
                ends_by=None if queued.limit is None else now + queued.limit,
                expected_by=None if queued.estimate is None else now + queued.estimate,
            )
            starts.append(allocation)
        return starts

    def rehold(self) -> None:
        """The pool was rebuilt (after the store could not be written): hold idle workers' again.

        A serving worker's resources are its run's, held again as the run is adopted.
        """
        for worker in self.workers:
            if worker.serving is None:
                self.dispatch.pool.take(worker.allocation)

    def worker_pid(self, run_id: int) -> int | None:
        """The shim of the worker serving ``run_id``: the sampler counts its tree with the run."""
        worker = self.workers.serving(run_id)
        return None if worker is None else worker.pid

    def blocked(self) -> set[int]:
        """Queued runs that wait for a worker of their job: it has as many as its replicas."""
        live: dict[str, int] = {}
        limit: dict[str, int] = {}
        for worker in self.workers:
            if not worker.retiring:
                live[worker.key] = live.get(worker.key, 0) + 1
                limit[worker.key] = worker.replicas
        full = {key for key, count in live.items() if count >= limit[key]}
        if not full:
            return set()
        return {run.id for run in self.dispatch.queue if run.warm in full}

    def waiting_reason(self, key: str) -> str | None:
        """Why a queued run of the job ``key`` waits, when it waits for the job's workers."""
        alike = [w for w in self.workers if w.key == key and not w.retiring]
        if not alike or len(alike) < alike[0].replicas:
            return None
        doing = ", ".join(
            f"worker {w.id} " + (f"serves run {w.serving}" if w.serving else w.state) for w in alike
        )
        return f"waiting for its job's warm worker ({doing}; replicas {alike[0].replicas})"

    def freed(self, run_id: int) -> None:
        """``run_id``'s resources were given back: a worker that served it holds them again.

        A worker whose run was stopped for going over a limit retires: the memory
        is its own, and the next run would go over too.
        """
        worker = self.workers.serving(run_id)
        if worker is None:
            return
        self.dispatch.pool.take(worker.allocation)
        self.workers.released(run_id)
        if self.dispatch.ledger.get(run_id).stop_reason in HARD_STOPS:
            self.workers.retire(worker)

    def idle(self, worker: Worker) -> None:
        """``worker`` finished its run: keep it warm (or retire a replica too many)."""
        alike = [other for other in self.workers if other.key == worker.key and not other.retiring]
        if len(alike) > worker.replicas:
            self.workers.retire(worker)
            return
        self.workers.idle_for(worker, worker.idle_ttl)
        self.dispatch.loop.call_soon(self.dispatch.wake)  # a run of its job may be waiting

    def exited(self, worker: Worker) -> None:
        """``worker`` ended: what it held is free; a run it was serving fails with the reason."""
        self.dispatch.pool.release(worker.pool_id)
        run_id = worker.serving
        if run_id is not None and self.dispatch.is_live(run_id):
            run_dir = self.dispatch.ledger.state.run_dir(run_id)
            last = "\n".join(read_tail(worker.folder / "output.log").strip().splitlines()[-15:])
            note_in_log(
                run_dir,
                f"evd: its warm worker {worker.id} (pid {worker.pid}) ended while it ran."
                + (f" The worker's last lines:\n{last}" if last else ""),
            )
            self.dispatch.stop_run(run_id, "worker")
        self.dispatch.wake()

    def reclaim(self) -> None:
        """Retire idle workers whose resources the first waiting run needs (see the module)."""
        idle = sorted((w for w in self.workers if w.idle), key=lambda w: w.started_at)
        queue = self.dispatch.queue
        if not idle or not len(queue):
            return
        # The first run that may start and that no idle worker takes (the idle ones are
        # of keys with room, so a run waiting for its own job's busy worker is passed over).
        keys = {worker.key for worker in idle}
        blocked = self.blocked()
        head = next((run for run in queue if run.warm not in keys and run.id not in blocked), None)
        if head is None:
            return
        pool = self.dispatch.pool.copy()
        if pool.fit(head.id, head.request) is not None:
            return  # it fits already: something else keeps it waiting
        chosen: list[Worker] = []
        for worker in idle:
            pool.release(worker.pool_id)
            chosen.append(worker)
            if pool.fit(head.id, head.request) is not None:
                for retired in chosen:
                    log.info("retiring idle worker %s: run %s needs it", retired.id, head.id)
                    self.workers.retire(retired)
                return
