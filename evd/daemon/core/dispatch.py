"""Dispatch, the supervisor: the queue, the pool, the live runs and their ends.

It owns the scheduler's queue (``QueueIndex``), the resource ``Pool``, and the
runs whose shims it watches (``LiveRun``, runtime only). ``tick`` asks the pure
scheduler what may start and spawns it; the exit watcher reports each shim's
end, which is judged (``outcomes``) and recorded through the ledger. Timers
stop a run at its timeout, then kill what outlives the grace period.

It knows nothing of policies: a run that ends is offered to ``again`` (set at
wiring; admission's retry and restart rules) before it is recorded as final,
and ``on_start`` tells admission a run has started. The sampler reads the live
runs and the pool through the ``running`` and ``pool`` properties.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

import psutil

from evd.daemon.core.bus import EventBus
from evd.daemon.core.ledger import Ledger
from evd.daemon.core.outcomes import Verdict, verdict_from_folder
from evd.daemon.core.publishing import record_end
from evd.daemon.core.reaping import Reaper
from evd.daemon.core.runtime import LiveRun
from evd.daemon.core.spawning import Launcher
from evd.daemon.envs.builds import Builds
from evd.daemon.monitor.usage import HARD_STOPS, Usage, over_limit_reason
from evd.errors import StorageError
from evd.policy import Policy
from evd.resources.inventory import Inventory
from evd.resources.pool import Allocation, Pool
from evd.resources.request import Request
from evd.runner import stop as stopper
from evd.runner.logcap import cap_log
from evd.runner.shim import LOG_FILE
from evd.runner.watch import ExitWatcher
from evd.scheduler import Capacity, QueuedRun, QueueIndex, tick
from evd.store import RunRecord

log = logging.getLogger("evd.dispatch")

LOG_CHECK_INTERVAL = 2.0

# again(record, verdict, stopping, ended_at) -> whether the run was queued for another attempt.
AgainRule = Callable[[RunRecord, Verdict, "str | None", float], bool]


class Dispatch:
    """Starts queued runs when they fit, watches them, stops them, and concludes them."""

    def __init__(
        self,
        ledger: Ledger,
        bus: EventBus,
        *,
        inventory: Inventory,
        launcher: Launcher,
        builds: Builds,
        usage: Usage,
        parallel: int | None,
        holds_starts: Callable[[], bool],
        kill_grace: float = 10.0,
        log_limit: int = 100 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Supervise runs on ``inventory``; nothing starts while ``holds_starts()``."""
        self.ledger = ledger
        self.bus = bus
        self.inventory = inventory
        self.launcher = launcher
        self.builds = builds
        self.usage = usage
        self.parallel = parallel
        self.kill_grace = kill_grace
        self.log_limit = log_limit
        self.clock = clock
        self._holds_starts = holds_starts
        self.again: AgainRule = lambda *_: False
        self.on_start: Callable[[int], None] = lambda _run_id: None
        # Warm workers (``evd.daemon.core.warm``, set at wiring): runs handed to idle workers
        # before the scheduler's tick, a run's resources freed, idle workers reclaimed after.
        self.warm_starts: Callable[[], list[Allocation]] = list
        # Runs that may not start now for reasons of their own (their job's warm worker, disk).
        self.held_out: Callable[[], set[int]] = set
        self.last_held_out: set[int] = set()  # what ``held_out`` said at the last tick
        self.estimate_of: Callable[[RunRecord], float | None] = lambda _record: None
        self.on_freed: Callable[[int], None] = lambda _run_id: None
        self.after_tick: Callable[[], None] = lambda: None
        self.queue = QueueIndex()
        self._pool = Pool.from_inventory(inventory)
        self.changes = 0  # counts changes of the queue and the pool, for views that cache
        self._live: dict[int, LiveRun] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: ExitWatcher | None = None
        self._reaper: Reaper | None = None
        self._log_timer: asyncio.TimerHandle | None = None

    # -- what others may read -----------------------------------------------------------

    @property
    def pool(self) -> Pool:
        """The resources: who holds what, devices' state (the sampler updates devices)."""
        return self._pool

    @property
    def running(self) -> Mapping[int, LiveRun]:
        """The live runs by id (read-only)."""
        return self._live

    def is_live(self, run_id: int) -> bool:
        """Whether ``run_id``'s shim is alive and watched."""
        return run_id in self._live

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin watching exits and logs on ``loop`` (before recovery adopts runs)."""
        self._loop = loop
        self._watcher = ExitWatcher(loop)
        self._reaper = Reaper(loop, self._watcher, self.kill_grace)
        self._log_timer = loop.call_later(LOG_CHECK_INTERVAL, self._check_logs)

    def stop(self) -> None:
        """Let go of every run (evd is stopping; the shims carry on)."""
        if self._log_timer:
            self._log_timer.cancel()
        for live in self._live.values():
            live.cancel_timers()
        if self._watcher:
            self._watcher.close()

    def reset(self) -> None:
        """Forget the queue, the pool and the live runs (recovery rebuilds them)."""
        for live in self._live.values():
            live.cancel_timers()
            self.watcher.unwatch(live.pid)
        self._live.clear()
        self.queue = QueueIndex()
        self._pool = Pool.from_inventory(self.inventory)
        self.changes += 1

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (after ``start``)."""
        assert self._loop is not None, "Dispatch.start() first"
        return self._loop

    @property
    def reaper(self) -> Reaper:
        """Stops what ended jobs left running (after ``start``)."""
        assert self._reaper is not None, "Dispatch.start() first"
        return self._reaper

    @property
    def watcher(self) -> ExitWatcher:
        """The exit watcher (after ``start``)."""
        assert self._watcher is not None, "Dispatch.start() first"
        return self._watcher

    # -- the queue ----------------------------------------------------------------------

    def enqueue(self, record: RunRecord) -> None:
        """Put a run in the scheduler's queue (its limit: when it is sure to be gone)."""
        self.changes += 1
        self.queue.add(
            QueuedRun(
                id=record.id,
                priority=record.priority,
                request=Request.from_dict(record.resources),
                limit=None if record.timeout is None else record.timeout + self.kill_grace,
                warm=(record.spec or {}).get("worker", {}).get("key"),
                estimate=self.estimate_of(record),
                preemptible=Policy.preemptible_in(record.policy),
            )
        )

    def dequeue(self, run_id: int) -> bool:
        """Take a run out of the queue; whether it was there."""
        queued = run_id in self.queue
        self.queue.remove(run_id)
        self.changes += 1
        return queued

    def tick(self) -> None:
        """Start what the scheduler says may start now."""
        self.changes += 1
        capacity = Capacity(slots=self.parallel, draining=self._holds_starts())
        for allocation in [] if capacity.draining else self.warm_starts():
            self._start(allocation)
        blocked = self.last_held_out = self.held_out()
        queue = self.queue.without(blocked) if blocked else self.queue
        for allocation in tick(self.clock(), queue, len(self._live), capacity, self._pool):
            self.queue.remove(allocation.run_id)
            self._start(allocation)
        self.after_tick()

    def wake(self) -> None:
        """Something was freed outside dispatch's own events (a device, outside memory)."""
        with contextlib.suppress(StorageError):
            self.tick()

    def _start(self, allocation: Allocation) -> None:
        run_id = allocation.run_id
        record = self.ledger.get(run_id)
        if self.builds.needs_build(record):  # its venv was removed while it queued
            self.builds.start(record, " again: its venv is gone")
            return
        launched = self.launcher.launch(record, allocation, self._ports_taken)
        if launched is None:
            return  # it could not start: the launcher recorded why
        live, started = launched
        self._pool.take(allocation)
        self.on_start(run_id)
        self._watch(live, record.timeout, started)

    def _ports_taken(self) -> set[int]:
        return {live.master_port for live in self._live.values() if live.master_port}

    # -- watching and stopping ----------------------------------------------------------

    def adopt(self, record: RunRecord, live: LiveRun) -> None:
        """Watch a run whose shim outlived the last daemon; its resources are held again."""
        live.stopping = record.stop_reason
        started = record.started_at or self.clock()
        ends_by = None if record.timeout is None else started + record.timeout + self.kill_grace
        estimate = self.estimate_of(record)
        expected_by = None if estimate is None else started + estimate
        request = Request.from_dict(record.resources)
        allocation = self._pool.allocation_of(record.id, request, record.gpus or [])
        # A loan is not known again after a restart: the run keeps what it holds to its end.
        allocation = dataclasses.replace(allocation, ends_by=ends_by, expected_by=expected_by)
        self._pool.take(allocation)
        self.changes += 1
        self._watch(live, record.timeout, started)

    def _watch(self, live: LiveRun, timeout: float | None, started_at: float) -> None:
        self._live[live.run_id] = live
        self.usage.run_went_live()
        self.watcher.watch(live.pid, lambda _pid: self._on_exit(live.run_id))
        if live.stopping:
            self._signal_stop(live)
        elif timeout is not None:
            delay = max(0.0, started_at + timeout - self.clock())
            live.timers.append(
                self.loop.call_later(delay, self._stop_quietly, live.run_id, "timeout")
            )

    def stop_run(self, run_id: int, why: str) -> None:
        """Begin stopping a live run (``cancel``, ``timeout``...); kept across restarts."""
        live = self._live.get(run_id)
        if live is None or live.stopping:
            return
        live.stopping = why
        self._signal_stop(live)
        self.ledger.update(run_id, stop_reason=why)

    def stop_over_limit(self, run_id: int, why: str) -> None:
        """Stop a job that went over its memory (``memory``) or GPU memory (``gpu-memory``)."""
        self._stop_quietly(run_id, why)

    def stop_leftovers(self, run_id: int, pids: list[int]) -> None:
        """Stop processes of an ended run that left its process group (the sampler finds them)."""
        if run_id in self._live:
            return  # it is still live: they are its own (the sample is older than its start)
        with contextlib.suppress(StorageError):
            if not self.ledger.get(run_id).state.is_final:
                return
            keep = self._keeps_children(run_id)
            self.reaper.found_late(self.ledger.state.run_dir(run_id), pids, keep=keep)

    def _stop_quietly(self, run_id: int, why: str) -> None:
        with contextlib.suppress(StorageError):  # the ledger has degraded evd
            self.stop_run(run_id, why)

    def _signal_stop(self, live: LiveRun) -> None:
        live.strays = stopper.descendants(live.pid)
        if live.stopping in HARD_STOPS:  # over a limit: stop it as the kernel would, at once
            stopper.signal_job(live.pid, signal.SIGKILL, live.strays)
            return
        stopper.signal_job(live.pid, signal.SIGTERM, live.strays)
        live.timers.append(self.loop.call_later(self.kill_grace, self._kill, live.run_id))

    def _kill(self, run_id: int) -> None:
        live = self._live.get(run_id)
        if live is not None:
            log.info(
                "run %s outlived its %ss grace period; sending SIGKILL", run_id, self.kill_grace
            )
            strays = live.strays + stopper.descendants(live.pid)
            stopper.signal_job(live.pid, signal.SIGKILL, strays)

    def progress_seen(self, reports: dict[int, dict[str, Any]]) -> None:
        """New progress of running runs: keep it, store the fraction, tell listeners."""
        for run_id, fields in reports.items():
            live = self._live.get(run_id)
            if live is None:
                continue
            live.progress = fields
            self.ledger.update(run_id, progress=fields["progress"])
            if self.bus.has_subscribers:
                self.bus.publish({"kind": "progress", "run_id": run_id, **fields})

    def _check_logs(self) -> None:
        for live in list(self._live.values()):
            removed = cap_log(live.run_dir / LOG_FILE, self.log_limit)
            if removed:
                log.info("run %s: cut %d bytes from the middle of its log", live.run_id, removed)
        self._log_timer = self.loop.call_later(LOG_CHECK_INTERVAL, self._check_logs)

    # -- ends ---------------------------------------------------------------------------

    def _on_exit(self, run_id: int) -> None:
        live = self._live.get(run_id)
        if live is None or live.ending:
            return
        live.ending = True
        live.cancel_timers()
        if live.stopping:
            # Whatever of the job ignored SIGTERM or was still winding down goes now.
            stopper.signal_job(live.pid, signal.SIGKILL, live.strays)
        ended_at = self.clock()  # seen live: finer than the exit file's mtime (a coarse clock)
        self.reaper.after_exit(
            live.run_dir,
            live.pid,
            live.strays,
            keeps=lambda: self._keeps_children(run_id),
            then=lambda: self._ended(live, ended_at),
        )

    def _keeps_children(self, run_id: int) -> bool:
        return Policy.from_dict(self.ledger.get(run_id).policy).keep_children

    def _ended(self, live: LiveRun, ended_at: float) -> None:
        """The run's processes are gone: give back what it held and conclude it."""
        run_id = live.run_id
        if self._live.get(run_id) is not live:
            return  # forgotten meanwhile (recovery reset dispatch)
        del self._live[run_id]
        held = self._pool.held.get(run_id)
        self._pool.release(run_id)
        self.on_freed(run_id)  # a warm worker that served it holds what it held again
        self.changes += 1
        if held is not None and held.gpus:
            self.usage.settle(held.gpus, run_id)
        record = self.ledger.get(run_id)
        try:
            self.conclude(record, live.pid, live.stopping, ended_at=ended_at, scoped=live.scoped)
        except StorageError:
            return  # degraded: recovery concludes it from the shim's record
        self.tick()

    def conclude(
        self,
        record: RunRecord,
        pid: int | None,
        stopping: str | None,
        ended_at: float | None = None,
        *,
        scoped: bool = False,
    ) -> None:
        """Judge and record how a run's job ended (from its shim's records), or try it again.

        ``scoped``: it was started under systemd-run, which may fail before the shim runs.
        """
        run_dir = self.ledger.state.run_dir(record.id)
        cap_log(run_dir / LOG_FILE, self.log_limit)
        peaks = self.usage.finish(record.id) or record.metrics or {}
        verdict, outcome = verdict_from_folder(
            run_dir,
            stopping=stopping,
            timeout=record.timeout,
            started_at=record.started_at,
            pid=pid,
            boot_time=psutil.boot_time,
            over_limit=lambda kills: over_limit_reason(stopping, record, peaks, kills),
            scoped=scoped,
        )
        if ended_at is None:
            ended_at = outcome.ended_at if outcome else self.clock()
        ended = max(ended_at, record.started_at or ended_at)
        if peaks:
            self.ledger.update(record.id, metrics=peaks)
        if self.again(record, verdict, stopping, ended):
            return
        record_end(self.ledger, record.id, verdict, ended)
