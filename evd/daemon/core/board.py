"""The board: a read-only view of the core for the API's views and the events stream.

It answers what a person asks of a run that the store alone cannot: why a
queued run waits (worked out now, so never stale), the peaks of a running
run so far, and its latest progress detail. It changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from evd.daemon.core.admission import Admission
from evd.daemon.core.dispatch import Dispatch
from evd.daemon.core.estimates import Estimates
from evd.daemon.core.gate import Gate
from evd.daemon.core.ledger import Ledger
from evd.daemon.monitor.usage import Usage
from evd.forecast import Expected, expected_end, forecast
from evd.models import RunState
from evd.paths import StateDir
from evd.reasons import why_waiting
from evd.resources.pool import Reserved
from evd.resources.request import Request
from evd.scheduler import Capacity, QueuedRun, blocked_head
from evd.store import RunRecord, Store
from evd.units import format_duration


class Board:
    """What the core can say about runs, read at the moment of asking."""

    def __init__(
        self, ledger: Ledger, gate: Gate, admission: Admission, dispatch: Dispatch, usage: Usage
    ) -> None:
        """Read from these parts; never write through them."""
        self._ledger = ledger
        self._gate = gate
        self._admission = admission
        self._dispatch = dispatch
        self._usage = usage
        # The blocked head of the queue, worked out once per change of the queue or the pool.
        self._head: tuple[object, tuple[QueuedRun, Reserved] | None] = (None, None)
        # Why a run of a reusable job waits for its job's workers (set at wiring: warm).
        self.warm_reason: Callable[[str], str | None] = lambda _key: None
        self.disk_reason: Callable[[int], str | None] = lambda _run_id: None  # no room for it
        self.estimates: Estimates | None = None  # run-time estimates (set at wiring)
        # The runs being preempted for a queued run (set at wiring: preempting).
        self.preempting_for: Callable[[int], list[int]] = lambda _run_id: []
        # The queue played forward, once per change of the queue or the pool and second.
        self._plan: tuple[object, dict[int, Expected]] = (None, {})

    def estimate(self, record: RunRecord) -> float | None:
        """How long ``record`` should take (alike runs' history; ``None``: no history)."""
        return None if self.estimates is None else self.estimates.for_record(record)

    def expected_start(self, run_id: int) -> Expected | None:
        """When a queued run should start (``evd.forecast``; ``None``: nobody can say)."""
        return self.planned().get(run_id)

    def planned(self) -> dict[int, Expected]:
        """The expected start of each queued run that has one (read-only)."""
        now = self._ledger.clock()
        key = (self._dispatch.changes, int(now))
        if self._plan[0] != key:
            self._plan = (key, self._play(now))
        return self._plan[1]

    def _play(self, now: float) -> dict[int, Expected]:
        dispatch = self._dispatch
        ends: dict[int, float | None] = {}
        for run_id in dispatch.running:
            record = self._ledger.store.get_run(run_id)
            held = dispatch.pool.held.get(run_id)
            bound = held.ends_by if held is not None else None
            started = record.started_at if record is not None else None
            ends[run_id] = (
                None
                if record is None or started is None
                else expected_end(now, started, self.estimate(record), bound)
            )
        capacity = Capacity(slots=dispatch.parallel, draining=self._gate.holds_starts)
        held_out = dispatch.last_held_out
        queue = dispatch.queue.without(held_out) if held_out else dispatch.queue
        return forecast(now, queue, ends, capacity, dispatch.pool)

    @property
    def store(self) -> Store:
        """The store, to read runs and their events."""
        return self._ledger.store

    @property
    def state(self) -> StateDir:
        """The state dir (run folders)."""
        return self._ledger.state

    def peaks(self, run_id: int) -> dict[str, Any] | None:
        """A running run's peaks so far."""
        return self._usage.peaks(run_id)

    def progress_detail(self, run_id: int) -> dict[str, Any]:
        """A live run's last progress report, less the fraction ({} if not live)."""
        live = self._dispatch.running.get(run_id)
        if live is None:
            return {}
        return {key: value for key, value in live.progress.items() if key != "progress"}

    def queued_reason(self, record: RunRecord, *, forecast: bool = False) -> str | None:
        """Why a queued run waits, in words; another run's stored reason as it is.

        With ``forecast``, a run that waits for capacity is also told when it should
        start (``evd.forecast``).
        """
        if record.state is not RunState.QUEUED:
            return record.reason
        other = self._waits_for_other(record)
        if other is not None:
            return other
        reason = self._capacity_reason(record)
        victims = self.preempting_for(record.id)
        if victims:
            reason += "; preempting " + ", ".join(self._name(run_id) for run_id in victims)
        return self._with_start(record.id, reason) if forecast else reason

    def _with_start(self, run_id: int, reason: str) -> str:
        expected = self.expected_start(run_id)
        if expected is None:
            return reason
        wait = expected.at - self._ledger.clock()
        when = "now" if wait < 1 else f"in ~{format_duration(wait)}"
        on = f" on GPU {','.join(map(str, expected.gpus))}" if expected.gpus else ""
        by = f", when run {expected.after} ends" if expected.after else ""
        return f"{reason}; starts {when}{on}{by} (estimated)"

    def _capacity_reason(self, record: RunRecord) -> str:
        dispatch = self._dispatch
        ahead = dispatch.queue.position(record.id) or 0
        live = len(dispatch.running)
        if dispatch.parallel is not None and live >= dispatch.parallel:
            busy = f"{live} of {dispatch.parallel} slots busy"
            return f"waiting for a free slot ({busy}; {ahead} ahead in the queue)"

        request = Request.from_dict(record.resources)
        pool, now = dispatch.pool, self._ledger.clock()
        head = self._blocked_head(now)
        if head is not None and head[0].id == record.id:
            reason = why_waiting(request, pool, ahead, self._name)
            until = head[1].until  # the running jobs' timeouts may bound its wait
            if until < math.inf:
                reason += (
                    f"; sure to start within {format_duration(until - now)}"
                    " (running jobs' timeouts)"
                )
            return reason
        return why_waiting(request, pool, ahead, self._name, head=head, now=now)

    def _waits_for_other(self, record: RunRecord) -> str | None:
        """Why a queued run waits for other than capacity (``None``: capacity only).

        evd paused, a hold (``--after``, a backoff, a twin), its job's warm workers.
        """
        paused = self._gate.paused_reason()
        if paused is not None:
            return paused
        held = self._admission.held_reason(record.id, self._name)
        if held is not None:
            return held
        disk = self.disk_reason(record.id)
        if disk is not None:
            return disk
        warm = (record.spec or {}).get("worker")
        return None if warm is None else self.warm_reason(warm["key"])

    def _blocked_head(self, now: float) -> tuple[QueuedRun, Reserved] | None:
        """The run capacity is kept for (``evd.scheduler.blocked_head``), cached per change."""
        dispatch, pool = self._dispatch, self._dispatch.pool
        # The sampler changes devices' health and outside use without a tick.
        devices = tuple((d.problem, d.memory_external) for d in pool.devices.values())
        key = (dispatch.changes, devices)
        if self._head[0] != key:
            self._head = (key, blocked_head(dispatch.queue, pool, now))
        return self._head[1]

    def _name(self, run_id: int) -> str:
        holder = self._ledger.store.get_run(run_id)
        return f"run {run_id} ({holder.name})" if holder else f"run {run_id}"
