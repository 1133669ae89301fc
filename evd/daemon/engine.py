"""The engine: wires the core's parts, starts and stops them, and is what the API calls.

It owns no run state. The ledger, intake, admission, dispatch, recovery,
cancellation, gate and board each own theirs (docs/architecture.md draws who
calls whom); where one part must tell another something, the callback is set
here. Everything runs on the asyncio loop's thread, so no part needs a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

from evd.daemon.core.admission import Admission
from evd.daemon.core.board import Board
from evd.daemon.core.bus import EventBus
from evd.daemon.core.cancellation import Cancellation
from evd.daemon.core.diskroom import DiskRoom
from evd.daemon.core.dispatch import Dispatch
from evd.daemon.core.estimates import Estimates
from evd.daemon.core.gate import Gate
from evd.daemon.core.intake import AlsoWrite, Intake
from evd.daemon.core.jobenv import job_defaults
from evd.daemon.core.ledger import Ledger
from evd.daemon.core.preempting import MIN_RUN_TIME, Preempting
from evd.daemon.core.publishing import Publishing
from evd.daemon.core.recovery import RECOVERY_INTERVAL, Recovery
from evd.daemon.core.resultcache import ResultCache
from evd.daemon.core.spawning import Launcher
from evd.daemon.core.warm import WarmPool
from evd.daemon.core.workers import Workers
from evd.daemon.data.inputs import INPUTS_DIR, Stager
from evd.daemon.envs.builds import Builds
from evd.daemon.envs.envmanager import Environments
from evd.daemon.monitor.sampler import Sampler
from evd.daemon.monitor.usage import Usage
from evd.daemon.submit import secrets
from evd.daemon.submit.prepare import Preparer
from evd.daemon.submit.secrets import SECRET_LOOKING
from evd.daemon.triggers.schedules import Schedules
from evd.daemon.triggers.watches import Watches
from evd.daemon.views import event_payload
from evd.environments.cudawheels import CudaDevice, CudaMachine
from evd.errors import StorageError
from evd.models import SubmitRequest
from evd.paths import StateDir
from evd.resources.inventory import Inventory, discover
from evd.resources.memlimit import MemoryEnforcement, sampler
from evd.resources.probe import probe_for
from evd.runner.folders import FolderStock
from evd.runner.netns import Isolation
from evd.store import RunRecord, Store
from evd.units import duration_setting


class Engine:
    """The daemon's parts, wired; the face the API handlers call."""

    def __init__(
        self,
        state: StateDir,
        store: Store,
        *,
        parallel: int | None,
        log_limit: int = 100 * 1024 * 1024,
        kill_grace: float = 10.0,
        clock: Callable[[], float] = time.time,
        recovery_interval: float = RECOVERY_INTERVAL,
        environments: Environments | None = None,
        inventory: Inventory | None = None,
        retry_base: float = 2.0,
        sample_interval: float = 1.0,
        resources: dict[str, Any] | None = None,
        memory_limits: MemoryEnforcement | None = None,
        jobs: dict[str, Any] | None = None,
    ) -> None:
        """Build and wire every part; ``start`` brings them to life on a loop."""
        self.state, self.store, self.clock = state, store, clock
        self.http: str | None = None  # where the HTTP trigger listens, when it does
        self.gate = Gate(state)
        self.bus = EventBus()
        self.ledger = Ledger(
            state,
            store,
            self.bus,
            payload=lambda event: event_payload(self.board, event),
            on_failure=lambda error: self.recovery.degrade(error),  # noqa: PLW0108 - made below
            clock=clock,
        )
        self.environments = environments or Environments(state, os.environ, {})
        resources = resources or {}
        self.inventory = inventory or discover(os.environ, resources)
        self.environments.builder.machine = cuda_machine(self.inventory)
        self.memory_limits = memory_limits or sampler(sample_interval, "not detected")
        self.usage = Usage(
            Sampler(probe_for(self.inventory), str(state.root)),
            interval=sample_interval,
            stop_gpu_overuse=bool(resources.get("stop_gpu_overuse", False)),
        )
        self.stager = Stager(
            state.root / INPUTS_DIR,
            lambda run_id, names: secrets.available(
                names, state.run_dir(run_id), state.root / secrets.SECRETS_FILE
            ),
        )
        self.builds = Builds(
            state,
            self.environments,
            self.ledger,
            on_ready=lambda run_id: self.admission.env_ready(run_id),  # noqa: PLW0108 - made below
            on_failed=self.ledger.fail_before_start,
            clock=clock,
            staging=self.stager,
        )
        self.workers = Workers(state.root / "workers", kill_grace, clock)
        self.isolation = Isolation()  # network = "none"
        launcher = Launcher(
            self.ledger,
            self.environments.builder,
            self.memory_limits,
            job_defaults(jobs or {}),
            self.workers,
            clock=clock,
            cuda_ids=self.inventory.cuda_ids(),
            isolation=self.isolation,
        )
        self.dispatch = Dispatch(
            self.ledger, self.bus, inventory=self.inventory, launcher=launcher,
            builds=self.builds, usage=self.usage,
            parallel=parallel, holds_starts=lambda: self.gate.holds_starts,
            kill_grace=kill_grace, log_limit=log_limit, clock=clock,
        )  # fmt: skip
        self.usage.supervise(self.dispatch)
        self.warm = WarmPool(self.dispatch, self.workers)
        self.usage.worker_of = self.warm.worker_pid
        self.admission = Admission(
            self.ledger, self.dispatch, self.builds, retry_base=retry_base, clock=clock
        )
        self.publishing = Publishing(self.ledger)
        # A run that ended runs again (its policy), or publishes its outputs, or is final.
        self.dispatch.again = lambda record, verdict, stopping, ended: (
            self.admission.again(record, verdict, stopping, ended)
            or self.publishing.take(record, verdict, ended)
        )
        self.dispatch.on_start = self.admission.started
        patterns = (jobs or {}).get("secret_variables")
        self.preparer = Preparer(
            state,
            store,
            self.environments,
            secret_patterns=tuple(patterns) if patterns is not None else SECRET_LOOKING,
            isolation=self.isolation,
        )
        self.folders = FolderStock(state.runs)
        self.cache = ResultCache(self.ledger, clock)
        self.intake = Intake(
            self.ledger, self.gate, preparer=self.preparer, folders=self.folders,
            cache=self.cache, admission=self.admission, dispatch=self.dispatch, clock=clock,
        )  # fmt: skip
        self.recovery = Recovery(
            self.ledger, self.gate, self.admission, self.dispatch, self.usage,
            interval=recovery_interval,
        )  # fmt: skip
        self.recovery.on_reset = self.warm.rehold
        self.board = Board(self.ledger, self.gate, self.admission, self.dispatch, self.usage)
        self.admission.describe_wait = self.board.queued_reason
        self.board.warm_reason = self.warm.waiting_reason
        self._wire_planning(state, min_run_time(resources))
        self.admission.twin_of = self.cache.twin_of
        self.cache.twins = self.admission
        self.cancellation = Cancellation(self.ledger, self.gate, self.admission, self.dispatch)
        self.ledger.on_run_end(self.admission.run_ended)
        self.ledger.on_run_end(self.cancellation.run_ended)
        self.ledger.on_run_end(self.cache.run_ended)
        self.watches = Watches(self.ledger, self.intake)
        self.schedules = Schedules(self.ledger, self.intake, self.gate, clock)
        self.on_shutdown_request: Callable[[], None] = self.release_clients

    def _wire_planning(self, state: StateDir, min_run_time: float) -> None:
        """The parts that plan starts beyond the pool: disk room, estimates, preemption."""
        self.diskroom = DiskRoom(self.dispatch, state.runs, self.usage.disk_used)
        self.dispatch.held_out = lambda: self.warm.blocked() | self.diskroom.blocked()
        self.board.disk_reason = self.diskroom.reasons.get
        self.intake.diskroom = self.diskroom
        self.estimates = Estimates(self.ledger)
        self.ledger.on_run_end(self.estimates.run_ended)
        self.dispatch.estimate_of = self.estimates.for_record
        self.board.estimates = self.intake.estimates = self.estimates
        self.preempting = Preempting(self.dispatch, min_run_time)
        self.admission.preempted_by = self.preempting.stopped_for
        self.board.preempting_for = self.preempting.stopping_for
        reclaim = self.dispatch.after_tick  # the warm pool's

        def after_tick() -> None:
            reclaim()
            self.preempting.check()

        self.dispatch.after_tick = after_tick

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reconcile with what happened while no daemon ran, then start queued runs."""
        self.ledger.attach(loop)
        self.dispatch.start(loop)
        self.workers.start(loop, self.dispatch.watcher)  # retires those a last daemon left
        # Submits that were being prepared when the last daemon stopped.
        shutil.rmtree(self.preparer.staging_root, ignore_errors=True)
        self.folders.start()
        # Find the machine's Pythons off the loop (a few probes) before the first submit needs them.
        loop.run_in_executor(None, self.environments.pythons.all)
        self.cache.load()  # before recovery concludes runs that ended meanwhile
        self.recovery.reconcile()
        self.ledger.flush()
        self.dispatch.tick()
        self.usage.start(loop)
        self.watches.start(loop)  # after reconcile: runs that ended meanwhile get filed
        self.schedules.start()

    def shutdown(self) -> None:
        """Stop taking work and let go of the jobs, which run on under their shims."""
        self.gate.accepting = False
        self.usage.stop()
        self.watches.stop()
        self.schedules.stop()
        self.recovery.stop()
        self.diskroom.stop()
        self.preempting.stop()
        self.dispatch.stop()
        self.workers.stop_all()
        self.folders.close()
        with contextlib.suppress(StorageError):  # the shims' records survive; reconcile next time
            self.ledger.flush()
        self.release_clients()

    def release_clients(self) -> None:
        """End event streams and long polls at once, so the server need not wait for them."""
        self.gate.accepting = False
        self.bus.close()
        self.ledger.release_waiters()

    def request_shutdown(self) -> None:
        """Ask the server to stop (``evd down``); it releases the clients as it begins."""
        self.on_shutdown_request()

    @property
    def degraded(self) -> str | None:
        """Why the store cannot be written, while it cannot."""
        return self.gate.degraded

    # -- the API's verbs that span parts -------------------------------------------------

    async def submit(self, request: SubmitRequest, *, also: AlsoWrite | None = None) -> RunRecord:
        """Submit one run (see ``Intake.submit``)."""
        return await self.intake.submit(request, also=also)

    def drain(self, on: bool) -> None:
        """``evd drain`` (start nothing new; running runs finish) or ``evd resume``."""
        self.gate.drain(on)
        if not on:
            self.dispatch.tick()

    def prune(self, older_than: float) -> int:
        """Delete runs that ended over ``older_than`` seconds ago (see ``Ledger.prune``)."""
        return self.ledger.prune(older_than)

    def is_active(self, run_id: int) -> bool:
        """Whether the run is queued, held, building or running right now."""
        return (
            run_id in self.dispatch.queue
            or self.dispatch.is_live(run_id)
            or self.admission.is_waiting(run_id)
        )


def cuda_machine(inventory: Inventory) -> CudaMachine:
    """What a built torch must run on: the driver NVML reported and the GPUs evd hands out."""
    return CudaMachine(
        inventory.driver_version,
        inventory.cuda_version,
        tuple(
            CudaDevice(gpu.index, gpu.name, gpu.compute_capability)
            for gpu in inventory.gpus
            if gpu.compute_capability is not None
        ),
    )


def min_run_time(resources: dict[str, Any]) -> float:
    """``[resources] min_run_time``: seconds a preemptible run runs before it may be preempted."""
    return duration_setting(resources.get("min_run_time", MIN_RUN_TIME))
