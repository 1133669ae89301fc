"""The engine: the daemon's one loop of submit, schedule, spawn, watch and record.

Everything runs on the asyncio loop thread, so no locks are needed. Every state
change goes through the ``Recorder`` (group commit, then publish); a submit
commits before the API answers.

When the store cannot be written (a full disk), everything uncommitted is
rolled back and the engine is *degraded*: it starts nothing, answers writes
with ``StorageError``, and every few seconds tries to recover the way a
restarted daemon does (``reconcile``), from the store and the run folders. The
shims keep their own records meanwhile, so no run's outcome is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from evd.daemon import fanout, secrets
from evd.daemon.builds import Builds
from evd.daemon.bus import EventBus
from evd.daemon.envmanager import Environments
from evd.daemon.holds import Holds
from evd.daemon.jobenv import job_defaults, job_environment
from evd.daemon.outcomes import (
    Verdict,
    after_main_note,
    crashed_after_main,
    judge,
    lost_reason,
    read_tail,
)
from evd.daemon.prepare import CODE_DIR, Prepared, Preparer
from evd.daemon.recorder import Recorder
from evd.daemon.runtime import LiveRun
from evd.daemon.sampler import Sampler
from evd.daemon.schedules import Schedules
from evd.daemon.usage import HARD_STOPS, Usage, over_limit_reason
from evd.daemon.validate import Job, validate
from evd.daemon.views import event_payload, queued_reason
from evd.daemon.watches import Watches
from evd.errors import Conflict, InvalidRequest, RunNotFound, ShuttingDown, StorageError
from evd.models import (
    ACTIVE_STATES,
    FINAL_STATES,
    FailedBy,
    MapRequest,
    RunState,
    SubmitRequest,
)
from evd.paths import StateDir
from evd.policy import (
    STEADY_SECONDS,
    Again,
    Policy,
    dependency_block,
    describe_again,
    queue_deadline,
    run_again,
)
from evd.resources.inventory import Inventory, discover
from evd.resources.memlimit import MemoryEnforcement, sampler
from evd.resources.pool import Allocation, Pool
from evd.resources.probe import probe_for
from evd.resources.request import Request
from evd.runner import stop as stopper
from evd.runner.logcap import cap_log, note_in_log
from evd.runner.outcome import read_main_exit, read_outcome
from evd.runner.ports import free_port
from evd.runner.procenv import devices_of, job_variables
from evd.runner.shim import EXIT_FILE, LOG_FILE, PID_FILE, is_shim_of, read_shim_pid
from evd.runner.spawn import SpawnError, check_startable, spawn
from evd.runner.watch import ExitWatcher
from evd.scheduler import Capacity, QueuedRun, QueueIndex, tick
from evd.sdk.checks import DeclarationError
from evd.sdk.launch import MAIN_EXIT_FILE
from evd.sdk.progress import PROGRESS_FILE
from evd.store import GroupRecord, RunRecord, Store
from evd.units import format_duration

log = logging.getLogger("evd.engine")

LOG_CHECK_INTERVAL = 2.0
RECOVERY_INTERVAL = 5.0


class Engine:
    """Owns the queue, the live processes and every write to the store."""

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
        """Set up an engine; ``start`` brings it to life on a loop."""
        self.state = state
        self.store = store
        self.parallel = parallel
        self.log_limit = log_limit
        self.kill_grace = kill_grace
        self.clock = clock
        self.recovery_interval = recovery_interval
        self.retry_base = retry_base  # the first retry's or restart's delay; then doubling
        self.degraded: str | None = None  # why the store cannot be written, while it cannot
        self._recovery: asyncio.TimerHandle | None = None
        self.bus = EventBus()
        self.queue = QueueIndex()
        self.holds = Holds()
        self.live: dict[int, LiveRun] = {}
        # Called (on the loop) when a run reaches a final state: triggers file their runs.
        self.on_final: list[Callable[[int, RunState], None]] = []
        self.accepting = True
        self.http: str | None = None  # where the HTTP trigger listens, when it does
        self.on_shutdown_request: Callable[[], None] = self.release_clients
        self.recorder = Recorder(
            store, self.bus, lambda event: event_payload(self, event), self._degrade
        )
        self.environments = environments or Environments(state, os.environ, {})
        resources = resources or {}
        self.inventory = inventory or discover(os.environ, resources)
        self.pool = Pool.from_inventory(self.inventory)
        self.sample_interval = sample_interval
        self.job_defaults = job_defaults(jobs or {})
        self.memory_limits = memory_limits or sampler(sample_interval, "not detected")
        self.usage = Usage(
            self,
            Sampler(probe_for(self.inventory, state.root), str(state.root)),
            stop_gpu_overuse=bool(resources.get("stop_gpu_overuse", False)),
        )
        self.preparer = Preparer(state, store, self.environments)
        self.builds = Builds(
            state,
            self.environments,
            self.recorder,
            on_ready=self._env_ready,
            on_failed=self._fail_to_start,
            clock=clock,
        )
        self.watches = Watches(self)
        self.schedules = Schedules(self)
        self._log_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: ExitWatcher | None = None

    # -- lifecycle --------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the engine runs on (after ``start``)."""
        assert self._loop is not None, "Engine.start() first"
        return self._loop

    @property
    def watcher(self) -> ExitWatcher:
        """The exit watcher (after ``start``)."""
        assert self._watcher is not None, "Engine.start() first"
        return self._watcher

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reconcile with what happened while no daemon ran, then start queued runs."""
        self._loop = loop
        self._watcher = ExitWatcher(loop)
        self.recorder.attach(loop)
        # Submits that were being prepared when the last daemon stopped.
        shutil.rmtree(self.preparer.staging_root, ignore_errors=True)
        # Find the machine's Pythons off the loop (a few probes) before the first submit needs them.
        loop.run_in_executor(None, self.environments.pythons.all)
        self.reconcile()
        self.recorder.flush()
        self._tick()
        self._log_timer = loop.call_later(LOG_CHECK_INTERVAL, self._check_logs)
        self.usage.start(loop)
        self.watches.start(loop)  # after reconcile: runs that ended meanwhile get filed
        self.schedules.start()

    def shutdown(self) -> None:
        """Stop taking work and let go of the jobs, which run on under their shims."""
        self.accepting = False
        if self._log_timer:
            self._log_timer.cancel()
        self.usage.stop()
        self.watches.stop()
        self.schedules.stop()
        for live in self.live.values():
            live.cancel_timers()
        if self._watcher:
            self._watcher.close()
        with contextlib.suppress(StorageError):  # the shims' records survive; reconcile next time
            self.recorder.flush()
        self.release_clients()

    def release_clients(self) -> None:
        """End event streams and long polls at once, so the server need not wait for them."""
        self.accepting = False
        self.bus.close()
        self.recorder.release_waiters(_stopping)

    def request_shutdown(self) -> None:
        """Ask the server to stop (``evd down``); it releases the clients as it begins."""
        self.on_shutdown_request()

    # -- requests -----------------------------------------------------------------

    def check_accepting(self) -> None:
        """Raise ``ShuttingDown`` or ``StorageError`` unless new work can be taken now."""
        if not self.accepting:
            raise ShuttingDown("evd is shutting down and takes no new runs; `evd up` restarts it")
        if self.degraded:
            raise StorageError(self.degraded)

    async def submit(
        self, request: SubmitRequest, *, also: Callable[[Store, int], None] | None = None
    ) -> RunRecord:
        """Validate, prepare, store durably, then build its env or queue it.

        A job file with a mistake still becomes a run, recorded as failed with
        the reason (see ``evd.daemon.prepare``). ``also(store, run_id)`` writes
        a trigger's own record of the run in the same commit as the run.
        """
        self.check_accepting()
        job = validate(request)
        prepared = await self._prepare(job, request.environment)
        prepared.spec["request"] = replayable(request)
        try:
            self.check_accepting()  # the world may have changed while the file was read
            run_id = self._store_prepared(prepared, also)
        except BaseException:
            self.preparer.discard(prepared)
            raise
        self._launch([run_id], prepared)
        return self.get(run_id)

    async def rerun(self, record: RunRecord, args: list[str] | None = None) -> RunRecord:
        """Submit what ``record`` ran again (its file as it is now), with the daemon's environment.

        ``args`` replace the job's words (a command's arguments after the program).
        """
        recorded = (record.spec or {}).get("request")
        if not recorded:
            raise Conflict(f"run {record.id} predates re-runs: evd did not keep its request")
        request = SubmitRequest(**recorded)
        if args is not None:
            if request.command:
                request.command = [request.command[0], *args]
            else:
                request.args = list(args)
        return await self.submit(request)

    async def submit_map(self, request: MapRequest) -> GroupRecord:
        """Submit ``request.run`` once per item, as one group (stored in one commit).

        The file is read once; each run gets its own copy of the code. A
        mistake in the file fails every run of the group with the reason.
        """
        self.check_accepting()
        items = fanout.check_items(request.items)
        job = validate(request.run)
        prepared = await self._prepare(job, request.run.environment)
        try:
            self.check_accepting()
            group_id, run_ids = self._store_group(prepared, items, self._parent(request.run))
        except BaseException:
            self.preparer.discard(prepared)
            raise
        self._launch(run_ids, prepared)
        return self.get_group(group_id)

    def _parent(self, request: SubmitRequest) -> int | None:
        """The active run a submit came from (its ``EVD_RUN_ID``), if any."""
        text = (request.env or {}).get("EVD_RUN_ID", "")
        if not text.isdigit():
            return None
        record = self.store.get_run(int(text))
        return record.id if record is not None and not record.state.is_final else None

    async def _prepare(self, job: Job, environment: str | None) -> Prepared:
        """Prepare a validated job; refuse it (422) if it names a run that does not exist."""
        prepared = await self.preparer.prepare(job, environment)
        never = self.pool.never_fits(prepared.request)
        if never is not None and prepared.error is None:
            prepared.error = f"it can never start on this machine: it {never}"
        for dependency in job.after:
            if self.store.get_run(dependency) is None:
                self.preparer.discard(prepared)
                raise InvalidRequest(
                    f"--after {dependency}: no run with that id (`evd ps --all` lists runs)"
                )
        return prepared

    def _launch(self, run_ids: list[int], prepared: Prepared) -> None:
        """Stored runs onward: failed with the preparation's error, else built or queued."""
        if prepared.error is not None:
            for run_id in run_ids:
                self._fail_to_start(run_id, prepared.error, prepared.failed_by)
            self.recorder.flush()
            return
        for run_id in run_ids:
            record = self.get(run_id)
            if self._admit(record):
                self._queue_or_build(record, tick=False)
        self._tick()

    def _store_prepared(
        self, prepared: Prepared, also: Callable[[Store, int], None] | None = None
    ) -> int:
        """Insert the run (and ``also``'s record of it), move its code into its folder, commit."""
        # Commit what is pending first, so a failure here can only roll back this run.
        self.recorder.flush()
        run_id = None
        try:
            run_id = self._insert(prepared, prepared.command, prepared.name)
            if also is not None:
                self.recorder.write(lambda store: also(store, run_id))
            self.recorder.flush()  # durable before anyone learns the id
        except BaseException:
            self.recorder.discard_uncommitted()
            if run_id is not None:
                shutil.rmtree(self.state.run_dir(run_id), ignore_errors=True)
            raise
        return run_id

    def _store_group(
        self, prepared: Prepared, items: list[Any], parent: int | None
    ) -> tuple[int, list[int]]:
        """Insert a group and one run per item (its own copy of the code), commit once."""
        self.recorder.flush()
        spec = {key: prepared.spec.get(key) for key in ("source", "function", "kind")}
        run_ids: list[int] = []
        try:
            group_id = self.recorder.write(
                lambda store: store.insert_group(
                    name=prepared.name,
                    size=len(items),
                    created_at=self.clock(),
                    spec=spec,
                    parent_run=parent,
                )
            )
            kind = prepared.spec.get("kind", prepared.kind)
            for index, item in enumerate(items):
                command = fanout.item_command(prepared.command, kind, item)
                name = f"{prepared.name}[{index}]"
                # The staged code moves into the first run's folder; later runs copy it from there.
                first = self.state.run_dir(run_ids[0]) if run_ids else None
                run_ids.append(self._insert(prepared, command, name, (group_id, index), first))
            self.recorder.flush()
        except BaseException:
            self.recorder.discard_uncommitted()
            for run_id in run_ids:
                shutil.rmtree(self.state.run_dir(run_id), ignore_errors=True)
            raise
        return group_id, run_ids

    def _insert(
        self,
        prepared: Prepared,
        command: list[str],
        name: str,
        group: tuple[int, int] | None = None,
        code_from: Path | None = None,
    ) -> int:
        """Insert one run (uncommitted) and give it its folder: the staged code or a copy."""
        group_id, group_index = group or (None, None)
        run_id = self.recorder.insert(
            at=self.clock(),
            name=name,
            command=command,
            cwd=prepared.cwd,
            env=prepared.env,
            priority=prepared.priority,
            timeout=prepared.timeout,
            spec=prepared.spec or None,
            env_hash=prepared.env_spec.content_hash if prepared.env_spec else None,
            resources=prepared.request.to_dict(),
            policy=prepared.policy.to_dict(),
            group_id=group_id,
            group_index=group_index,
        )
        run_dir = self.state.run_dir(run_id)
        try:
            # A leftover folder of an id whose insert was rolled back earlier.
            shutil.rmtree(run_dir, ignore_errors=True)
            if prepared.staging is not None:
                placed = prepared.placed(run_dir, command)
                self.recorder.update(
                    run_id, command=placed.command, cwd=placed.cwd, spec=placed.spec
                )
                if code_from is None:
                    os.replace(prepared.staging, run_dir)
                else:
                    run_dir.mkdir()
                    shutil.copytree(code_from / CODE_DIR, run_dir / CODE_DIR, symlinks=True)
            else:
                run_dir.mkdir()
            if prepared.error is None:
                secrets.save_for_run(run_dir, prepared.shell_secrets)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return run_id

    def _queue_or_build(self, record: RunRecord, why: str = "", *, tick: bool = True) -> None:
        """Queue a run whose venv is ready; build the venv of one whose is not."""
        if self.builds.needs_build(record):
            self.builds.start(record, why)
            return
        self._enqueue(record, tick=tick)

    def _enqueue(self, record: RunRecord, *, tick: bool = True) -> None:
        """Put a run in the scheduler's queue, unless it still waits for a dependency or backoff."""
        if record.id in self.holds or record.id in self.builds.waiting:
            return  # released to the queue when that wait ends
        self.queue.add(_queued(record, self.kill_grace))
        if tick:
            self._tick()

    def _env_ready(self, run_id: int, *, tick: bool = True) -> None:
        """A run's venv is ready: back to ``queued``, to wait for a slot."""
        record = self.get(run_id)
        self.recorder.record(run_id, RunState.QUEUED, None, self.clock())
        self._enqueue(record, tick=tick)

    # -- policies: dependencies, retries, restarts, queue timeouts -----------------------

    def _admit(self, record: RunRecord) -> bool:
        """Hold a new or re-read queued run for what its policy says; ``False`` if it failed.

        Arms its queue timeout, holds it for the runs it must start after (or
        fails it if one of them already failed), and, after a restart of the
        daemon, holds it for the rest of its retry backoff.
        """
        policy = Policy.from_dict(record.policy)
        if record.retry and record.state is RunState.QUEUED and record.retry["at"] > self.clock():
            again = Again(0.0, record.attempts + 1, policy.attempts_in_all, record.retry["outcome"])
            self._retry_later(record.id, again, float(record.retry["at"]))
        if policy.after:
            states = {i: self._state_of(i) for i in policy.after}
            pending, broken = dependency_block(policy.after, states)
            if broken is not None:
                self._fail_dependant(record.id, broken)
                return False
            self.holds.wait_for(record.id, pending)
        deadline = queue_deadline(policy, record.created_at, record.attempts > 0)
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            timer = self.loop.call_later(delay, self._queue_timed_out, record.id)
            self.holds.set_deadline(record.id, timer)
        return True

    def _state_of(self, run_id: int) -> RunState | None:
        record = self.store.get_run(run_id)
        return None if record is None else record.state

    def _record(
        self, run_id: int, state: RunState, reason: str | None, at: float, **fields: Any
    ) -> None:
        """Record a transition; a final one settles the runs that wait for this one."""
        self.recorder.record(run_id, state, reason, at, **fields)
        if state.is_final:
            self._settle_dependants(run_id, state)
            for listener in self.on_final:
                listener(run_id, state)
        if state in (RunState.CANCELLED, RunState.TIMED_OUT):
            # A coordinating run that was stopped takes the fan-outs it made along (as a
            # Ray driver's tasks go with it); after any other end they run on.
            for group_id in self.store.groups_made_by(run_id):
                self.loop.call_soon(self._cancel_made_by, group_id, run_id)

    def _settle_dependants(self, run_id: int, state: RunState) -> None:
        self.holds.clear_deadline(run_id)
        self.holds.quick_ends.pop(run_id, None)
        for dependant in sorted(self.holds.dependants(run_id)):
            if state is not RunState.SUCCEEDED:
                self._fail_dependant(dependant, run_id)
            elif self.holds.satisfied(dependant, run_id):
                self._enqueue(self.get(dependant))

    def _fail_dependant(self, run_id: int, dependency: int) -> None:
        """``run_id`` was to start after ``dependency`` succeeded, which it never will."""
        self.holds.release(run_id)
        self.builds.cancel(run_id)
        self.queue.remove(run_id)
        other = self.store.get_run(dependency)
        what = (
            f"run {dependency} ({other.name}) {other.state.value}"
            if other
            else (f"run {dependency} was removed before it succeeded")
        )
        self._fail_to_start(
            run_id, f"{what}; this run was to start after it succeeded", FailedBy.DEPENDENCY
        )

    def _retry_later(self, run_id: int, again: Again, not_before: float) -> None:
        delay = max(0.0, not_before - self.clock())
        timer = self.loop.call_later(delay, self._retry_due, run_id)
        self.holds.retry_later(run_id, again, not_before, timer)

    def _retry_due(self, run_id: int) -> None:
        if self.holds.woken(run_id):
            with contextlib.suppress(StorageError):
                self._queue_or_build(self.get(run_id), " again for its next attempt")

    def _again(
        self, record: RunRecord, verdict: Verdict, stopping: str | None, ended: float
    ) -> bool:
        """Queue the run for another attempt if its policy says so; return whether it did."""
        policy = Policy.from_dict(record.policy)
        if not policy.retries and policy.restart == "no":
            return False
        ran_for = ended - (record.started_at or ended)
        quick = self.holds.quick_ends.get(record.id, 0) + 1 if ran_for < STEADY_SECONDS else 1
        again = run_again(
            policy,
            attempts=record.attempts,
            state=verdict.state,
            failed_by=verdict.failed_by,
            stopped=stopping,
            outcome=verdict.reason or "succeeded",
            quick_ends=quick,
            base=self.retry_base,
        )
        if again is None:
            return False
        self.holds.quick_ends[record.id] = quick
        not_before = ended + again.delay
        self.recorder.record(
            record.id,
            RunState.QUEUED,
            describe_again(again, again.delay),
            ended,
            retry={"since": ended, "at": not_before, "outcome": again.outcome},
        )
        self._retry_later(record.id, again, not_before)
        return True

    def _queue_timed_out(self, run_id: int) -> None:
        """A run has not started within its ``--queue-timeout``: it ends ``timed_out``."""
        record = self.store.get_run(run_id)
        if record is None or record.state.is_final or run_id in self.live:
            return
        waiting = queued_reason(self, record) or record.state.value
        policy = Policy.from_dict(record.policy)
        limit = format_duration(policy.queue_timeout or 0)
        self.queue.remove(run_id)
        self.holds.release(run_id)
        self.builds.cancel(run_id)
        now = self.clock()
        secrets.forget_for_run(self.state.run_dir(run_id))
        with contextlib.suppress(StorageError):
            self._record(
                run_id,
                RunState.TIMED_OUT,
                f"did not start within its queue timeout ({limit}): {waiting}",
                now,
                ended_at=now,
            )
            self._tick()

    def get(self, run_id: int) -> RunRecord:
        """The run, or ``RunNotFound``."""
        record = self.store.get_run(run_id)
        if record is None:
            raise RunNotFound(f"no run with id {run_id}; `evd ps --all` lists runs")
        return record

    def cancel(self, run_id: int) -> RunRecord:
        """Cancel a queued run at once, or begin stopping a running one."""
        record = self.get(run_id)
        if record.state.is_final:
            raise Conflict(f"run {run_id} has already {record.state.value}; nothing to cancel")
        if self.degraded:
            raise StorageError(self.degraded)
        queued = run_id in self.queue
        held = self.holds.release(run_id)
        building = self.builds.cancel(run_id)
        if queued or held or building:
            now = self.clock()
            self.queue.remove(run_id)
            when = "between attempts" if record.attempts else "before it started"
            self._record(run_id, RunState.CANCELLED, f"cancelled {when}", now, ended_at=now)
            secrets.forget_for_run(self.state.run_dir(run_id))
        else:
            self._stop(run_id, "cancel")
        self.recorder.flush()
        return self.get(run_id)

    def get_group(self, group_id: int) -> GroupRecord:
        """The group, or ``RunNotFound``."""
        group = self.store.get_group(group_id)
        if group is None:
            raise RunNotFound(f"no group with id {group_id}; `evd ps --all` lists groups")
        return group

    def cancel_group(self, group_id: int) -> GroupRecord:
        """Cancel every run of the group that has not ended (those that have are left be)."""
        group = self.get_group(group_id)
        for record in self.store.group_runs(group_id):
            if not record.state.is_final:
                with contextlib.suppress(Conflict):  # ended meanwhile
                    self.cancel(record.id)
        return group

    def _cancel_made_by(self, group_id: int, run_id: int) -> None:
        with contextlib.suppress(RunNotFound, StorageError):  # pruned, or degraded: nothing to do
            self.cancel_group(group_id)
            log.info("cancelled group %d with run %d, which made it", group_id, run_id)

    async def wait_group(self, group_id: int, timeout: float) -> GroupRecord:
        """The group once all its runs are final, or as it is after ``timeout`` seconds."""
        group = self.get_group(group_id)
        deadline = self.loop.time() + timeout
        for record in self.store.group_runs(group_id):
            left = deadline - self.loop.time()
            if left <= 0:
                break
            if not record.state.is_final:
                await self.wait_final(record.id, left)
        return group

    def prune(self, older_than: float) -> int:
        """Delete finished runs that ended over ``older_than`` seconds ago, and their folders."""
        run_ids = self.store.finished_before(self.clock() - older_than, FINAL_STATES)
        self.recorder.delete(run_ids)
        for run_id in run_ids:
            shutil.rmtree(self.state.run_dir(run_id), ignore_errors=True)
        return len(run_ids)

    def is_active(self, run_id: int) -> bool:
        """Whether the run is queued or running right now."""
        return (
            run_id in self.queue
            or run_id in self.live
            or run_id in self.builds.waiting
            or run_id in self.holds
        )

    async def wait_final(self, run_id: int, timeout: float) -> RunRecord:
        """The run once it is final, or as it is after ``timeout`` seconds."""
        if not self.accepting:  # came in as evd stops: waiters are released, the store closing
            raise _stopping(run_id)
        record = self.get(run_id)
        if record.state.is_final:
            return record
        await self.recorder.wait(run_id, timeout)
        if not self.accepting:  # the store may be closing under us
            raise _stopping(run_id)
        return self.get(run_id)

    # -- scheduling and processes ---------------------------------------------------

    @property
    def draining(self) -> bool:
        """Whether ``evd drain`` is in force (a file, so it survives restarts)."""
        return self.state.drain_file.exists()

    def drain(self, on: bool) -> None:
        """``evd drain`` (start nothing new; running runs finish) or ``evd resume``."""
        if on:
            self.state.drain_file.touch()
        else:
            self.state.drain_file.unlink(missing_ok=True)
            self._tick()

    def _tick(self) -> None:
        draining = not self.accepting or self.degraded is not None or self.draining
        capacity = Capacity(slots=self.parallel, draining=draining)
        for allocation in tick(self.clock(), self.queue, len(self.live), capacity, self.pool):
            self.queue.remove(allocation.run_id)
            self._start(allocation)

    def _start(self, allocation: Allocation) -> None:
        run_id = allocation.run_id
        record = self.get(run_id)
        if self.builds.needs_build(record):  # its venv was removed while it queued
            self.builds.start(record, " again: its venv is gone")
            return
        run_dir = self.state.run_dir(run_id)
        venv = self.environments.builder.path(record.env_hash) if record.env_hash else None
        try:
            run_dir.mkdir(exist_ok=True)
            if record.attempts:
                _begin_attempt(run_dir, record)
            port = None
            if len(allocation.gpus) > 1:
                taken = {live.master_port for live in self.live.values() if live.master_port}
                port = free_port(taken)
            env = job_environment(
                record, self.state, venv, allocation, port, defaults=self.job_defaults
            )
            check_startable(record.command, record.cwd, env)
            limit = allocation.memory
            wrap = (lambda argv: self.memory_limits.wrap(argv, limit)) if limit else None
            pid = spawn(run_dir, record.cwd, record.command, env, wrap)
        except (DeclarationError, SpawnError) as error:  # a secret gone, a program missing
            self._fail_to_start(run_id, str(error), FailedBy.USER)
            return
        except OSError as error:
            log.exception("could not start run %s", run_id)
            self._fail_to_start(run_id, f"evd could not start the job: {error}", FailedBy.EVD)
            return
        self.pool.take(allocation)
        self.holds.clear_deadline(run_id)
        started = self.clock()
        self.recorder.record(
            run_id,
            RunState.RUNNING,
            None,
            started,
            pid=pid,
            started_at=started,
            attempts=record.attempts + 1,
            gpus=list(allocation.gpus),
            retry=None,
        )
        if record.env_hash is not None:
            env_hash = record.env_hash
            self.recorder.write(lambda store: store.touch_env(env_hash, started))
        live = LiveRun(run_id=run_id, pid=pid, run_dir=run_dir, master_port=port)
        self._watch(live, record.timeout, started)

    def progress_seen(self, reports: dict[int, dict[str, Any]]) -> None:
        """New progress of running runs: keep it, store the fraction, tell listeners."""
        for run_id, fields in reports.items():
            live = self.live.get(run_id)
            if live is None:
                continue
            live.progress = fields
            self.recorder.update(run_id, progress=fields["progress"])
            if self.bus.has_subscribers:
                self.bus.publish({"kind": "progress", "run_id": run_id, **fields})

    def _fail_to_start(self, run_id: int, reason: str, failed_by: FailedBy) -> None:
        """Record a run that never started; its log says why too (watched folders file it)."""
        run_dir = self.state.run_dir(run_id)
        secrets.forget_for_run(run_dir)
        note_in_log(run_dir, f"evd: {reason}")
        now = self.clock()
        self._record(run_id, RunState.FAILED, reason, now, ended_at=now, failed_by=failed_by)

    def _watch(self, live: LiveRun, timeout: float | None, started_at: float) -> None:
        self.live[live.run_id] = live
        self.watcher.watch(live.pid, lambda _pid: self._on_exit(live.run_id))
        if live.stopping:
            self._signal_stop(live)
        elif timeout is not None:
            delay = max(0.0, started_at + timeout - self.clock())
            live.timers.append(
                self.loop.call_later(delay, self._stop_on_timer, live.run_id, "timeout")
            )

    def _stop(self, run_id: int, why: str) -> None:
        live = self.live.get(run_id)
        if live is None or live.stopping:
            return
        live.stopping = why
        self._signal_stop(live)
        # Persisted, so a daemon restarted mid-stop finishes the stop.
        self.recorder.update(run_id, stop_reason=why)

    def stop_over_limit(self, run_id: int, why: str) -> None:
        """Stop a job that went over its memory (``memory``) or GPU memory (``gpu-memory``)."""
        with contextlib.suppress(StorageError):  # the recorder has degraded the engine
            self._stop(run_id, why)

    def wake(self) -> None:
        """Something was freed outside the engine's own events (a device, outside memory)."""
        with contextlib.suppress(StorageError):
            self._tick()

    def _stop_on_timer(self, run_id: int, why: str) -> None:
        with contextlib.suppress(StorageError):  # the recorder has degraded the engine
            self._stop(run_id, why)

    def _signal_stop(self, live: LiveRun) -> None:
        live.strays = stopper.descendants(live.pid)
        if live.stopping in HARD_STOPS:  # over a limit: stop it as the kernel would, at once
            stopper.signal_job(live.pid, signal.SIGKILL, live.strays)
            return
        stopper.signal_job(live.pid, signal.SIGTERM, live.strays)
        live.timers.append(self.loop.call_later(self.kill_grace, self._kill, live.run_id))

    def _kill(self, run_id: int) -> None:
        live = self.live.get(run_id)
        if live is not None:
            log.info(
                "run %s outlived its %ss grace period; sending SIGKILL", run_id, self.kill_grace
            )
            strays = live.strays + stopper.descendants(live.pid)
            stopper.signal_job(live.pid, signal.SIGKILL, strays)

    def _on_exit(self, run_id: int) -> None:
        live = self.live.pop(run_id, None)
        if live is None:
            return
        held = self.pool.held.get(run_id)
        self.pool.release(run_id)
        if held is not None and held.gpus:
            self.usage.settle(held.gpus, run_id)
        live.cancel_timers()
        if live.stopping:
            # Whatever of the job ignored SIGTERM or was still winding down goes now.
            stopper.signal_job(live.pid, signal.SIGKILL, live.strays)
        record = self.get(run_id)
        try:
            # Seen live: our clock is finer than the exit file's mtime (the kernel's coarse clock).
            self._conclude(record, live.pid, live.stopping, ended_at=self.clock())
        except StorageError:
            return  # degraded: recovery concludes it from the shim's record
        self._tick()

    def _conclude(
        self,
        record: RunRecord,
        pid: int | None,
        stopping: str | None,
        ended_at: float | None = None,
    ) -> None:
        run_dir = self.state.run_dir(record.id)
        cap_log(run_dir / LOG_FILE, self.log_limit)
        outcome = read_outcome(run_dir)
        main_exit = read_main_exit(run_dir)
        if stopping != "cancel" and crashed_after_main(outcome, main_exit):
            assert main_exit is not None
            note_in_log(run_dir, after_main_note(outcome, main_exit))
        peaks = self.usage.finish(record.id) or record.metrics or {}
        verdict = judge(
            outcome,
            stopping=stopping,
            timeout=record.timeout,
            over_limit=over_limit_reason(stopping, record, peaks),
            lost_reason=lost_reason(record.started_at, psutil.boot_time(), pid)
            if outcome is None
            else "",
            log_tail=read_tail(run_dir / LOG_FILE),
            main_exit=main_exit,
        )
        if ended_at is None:
            ended_at = outcome.ended_at if outcome else self.clock()
        ended = max(ended_at, record.started_at or ended_at)
        if peaks:
            self.recorder.update(record.id, metrics=peaks)
        if self._again(record, verdict, stopping, ended):
            return
        secrets.forget_for_run(run_dir)
        self._record(
            record.id,
            verdict.state,
            verdict.reason,
            ended,
            exit_code=verdict.exit_code,
            failed_by=verdict.failed_by,
            ended_at=ended,
        )

    def _check_logs(self) -> None:
        for live in list(self.live.values()):
            removed = cap_log(live.run_dir / LOG_FILE, self.log_limit)
            if removed:
                log.info("run %s: cut %d bytes from the middle of its log", live.run_id, removed)
        self._log_timer = self.loop.call_later(LOG_CHECK_INTERVAL, self._check_logs)

    # -- recovery ---------------------------------------------------------------------

    def reconcile(self) -> None:
        """Rebuild runtime state from the store and the run folders after a (re)start.

        Queued runs go back in the queue. A run whose shim is alive is adopted
        (its stop or timeout re-armed). A run whose shim ended while no daemon
        watched gets the exit status the shim recorded and its real end time;
        with no record, it is lost, with the reason. Nothing stays "running".
        """
        for stored in reversed(self.store.list_runs(ACTIVE_STATES)):
            record = stored
            run_dir = self.state.run_dir(record.id)
            pid = read_shim_pid(run_dir)
            if pid is not None and _left_by_last_attempt(record, run_dir):
                pid = None
            if pid is None:
                self._readmit(record)
                continue
            variables = job_variables(pid)
            if record.state is not RunState.RUNNING:
                # The daemon died between spawning and committing the start; the
                # job's own environment still says which devices it was given.
                started = (run_dir / PID_FILE).stat().st_mtime
                self.recorder.record(
                    record.id,
                    RunState.RUNNING,
                    "started just before the daemon stopped",
                    started,
                    pid=pid,
                    started_at=started,
                    attempts=record.attempts + 1,
                    gpus=devices_of(variables),
                    retry=None,
                )
                record = self.get(record.id)
            if is_shim_of(pid, run_dir):
                log.info("run %s: re-adopted its running job (pid %s)", record.id, pid)
                port = variables.get("MASTER_PORT", "")
                live = LiveRun(
                    run_id=record.id,
                    pid=pid,
                    run_dir=run_dir,
                    master_port=int(port) if port.isdigit() else None,
                )
                live.stopping = record.stop_reason
                request = Request.from_dict(record.resources)
                started = record.started_at or self.clock()
                ends_by = (
                    None if record.timeout is None else started + record.timeout + self.kill_grace
                )
                allocation = self.pool.allocation_of(record.id, request, record.gpus or [])
                self.pool.take(dataclasses.replace(allocation, ends_by=ends_by))
                self._watch(live, record.timeout, started)
            else:
                self._conclude(record, pid, record.stop_reason)

    def _readmit(self, record: RunRecord) -> None:
        """A run that had not started when the daemon stopped: queue it, or build its env."""
        if record.state is RunState.QUEUED:
            if self._admit(record):
                self._enqueue(record, tick=False)
        elif not self.builds.needs_build(record):  # built, or its build finished
            if self._admit(record):
                self._env_ready(record.id, tick=False)
        elif record.state is RunState.BUILDING:
            if self._admit(record):
                self.builds.start(record, " again after a restart")
        else:
            self._record(
                record.id,
                RunState.LOST,
                "its run folder holds no trace of the job starting",
                self.clock(),
                failed_by=FailedBy.EVD,
                ended_at=self.clock(),
            )

    # -- storage failures ---------------------------------------------------------------

    def _degrade(self, error: StorageError) -> None:
        """The store rolled back what was uncommitted: start nothing until it can write again."""
        if self.degraded is None:
            log.error("cannot write the database, starting nothing until it can: %s", error)
        self.degraded = str(error)
        if self._recovery is None and self._loop is not None:
            self._recovery = self._loop.call_later(self.recovery_interval, self._recover)

    def _recover(self) -> None:
        """Rebuild runtime state from the store and the run folders, as a restart would."""
        self._recovery = None
        for live in self.live.values():
            live.cancel_timers()
            self.watcher.unwatch(live.pid)
        self.live.clear()
        self.queue = QueueIndex()
        self.pool = Pool.from_inventory(self.inventory)
        self.usage.reset()
        self.builds.waiting.clear()
        self.holds.clear()
        try:
            self.reconcile()
            self.degraded = None
            self.recorder.flush()
        except StorageError:
            return  # still degraded; the recorder has scheduled the next attempt
        log.info("the database is writable again; runs re-synchronised from their folders")
        self._tick()


def replayable(request: SubmitRequest) -> dict[str, Any]:
    """The request as kept with its run, for re-runs: never the submitter's environment."""
    names = [field.name for field in dataclasses.fields(request) if field.name != "env"]
    kept = {name: getattr(request, name) for name in names}
    return {key: value for key, value in kept.items() if value is not None and value != []}


def _stopping(run_id: int) -> ShuttingDown:
    """What a client waiting on ``run_id`` is told when evd stops."""
    return ShuttingDown(
        f"evd is stopping; run {run_id} carries on under its shim."
        " Start evd again with `evd up`, then wait again."
    )


def _queued(record: RunRecord, kill_grace: float) -> QueuedRun:
    """A stored run as the scheduler sees it: its limit is when it is sure to be gone."""
    return QueuedRun(
        id=record.id,
        priority=record.priority,
        request=Request.from_dict(record.resources),
        limit=None if record.timeout is None else record.timeout + kill_grace,
    )


def _begin_attempt(run_dir: Path, record: RunRecord) -> None:
    """Clear the last attempt's shim records and progress; mark where the next attempt begins."""
    for name in (EXIT_FILE, PID_FILE, MAIN_EXIT_FILE, PROGRESS_FILE):
        (run_dir / name).unlink(missing_ok=True)
    total = Policy.from_dict(record.policy).attempts_in_all
    of = f" of {total}" if total else ""
    with open(run_dir / LOG_FILE, "a", encoding="utf-8") as out:
        out.write(f"evd: attempt {record.attempts + 1}{of}\n")


def _left_by_last_attempt(record: RunRecord, run_dir: Path) -> bool:
    """Whether the shim records in a run folder are those of an attempt that already ended.

    A run waiting to retry still holds its last attempt's ``shim.pid``; a pid
    file written before the run was queued again is that one.
    """
    if record.state is not RunState.QUEUED or not record.retry:
        return False
    try:
        return (run_dir / PID_FILE).stat().st_mtime <= float(record.retry["since"])
    except OSError:
        return False
