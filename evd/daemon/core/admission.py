"""Admission: when a stored run may enter the scheduler's queue.

A run that is ``queued`` in the store may still wait for something other than
capacity: the runs it must start after (``--after``), the backoff before its
next attempt (``--retries``, ``--restart``), a run computing the same cached
result, or its environment's build. This
part holds such runs (``Holds``, runtime only), arms their queue timeouts, and
hands each run to the queue once nothing holds it. It decides, as a run ends,
whether it is tried again (dispatch asks through ``again``), and, as a run
reaches a final state, settles the runs that wait for it (a ledger listener).

It reaches the queue only through ``RunQueue``, which dispatch provides.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from evd.daemon.core.holds import Holds
from evd.daemon.core.ledger import Ledger
from evd.daemon.core.outcomes import PREEMPTED, Verdict
from evd.daemon.envs.builds import Builds
from evd.daemon.submit import secrets
from evd.errors import StorageError
from evd.models import FailedBy, RunState
from evd.policy import (
    STEADY_SECONDS,
    Again,
    Policy,
    dependency_block,
    describe_again,
    queue_deadline,
    run_again,
)
from evd.store import RunRecord
from evd.units import format_duration


class RunQueue(Protocol):
    """What admission may do with the scheduler's queue."""

    def enqueue(self, record: RunRecord) -> None:
        """Add a run that may start once it fits."""

    def dequeue(self, run_id: int) -> bool:
        """Take a run out; whether it was there."""

    def tick(self) -> None:
        """Start what fits now."""

    def is_live(self, run_id: int) -> bool:
        """Whether the run has started and not yet ended."""


class Admission:
    """Holds runs for their dependencies, backoffs and builds; arms their queue timeouts."""

    def __init__(
        self,
        ledger: Ledger,
        queue: RunQueue,
        builds: Builds,
        *,
        retry_base: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Admit into ``queue``; the first retry waits ``retry_base`` seconds, then doubling."""
        self.ledger = ledger
        self.queue = queue
        self.builds = builds
        self.retry_base = retry_base
        self.clock = clock
        self.holds = Holds()
        # Why a queued run waits, in words (set at wiring): said when its queue timeout ends it.
        self.describe_wait: Callable[[RunRecord], str | None] = lambda record: record.reason
        # The run whose cached result a run waits for (set at wiring: the result cache).
        self.twin_of: Callable[[int], int | None] = lambda run_id: None
        # The run a preempted run was stopped for (set at wiring: preemption).
        self.preempted_by: Callable[[int], int | None] = lambda run_id: None

    # -- entering the queue ---------------------------------------------------------------

    def admit(self, record: RunRecord) -> bool:
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
        twin = self.twin_of(record.id)
        if twin is not None:
            self.holds.follow(record.id, twin)
        deadline = queue_deadline(policy, record.created_at, record.attempts > 0)
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            timer = self.ledger.loop.call_later(delay, self._queue_timed_out, record.id)
            self.holds.set_deadline(record.id, timer)
        return True

    def queue_or_build(self, record: RunRecord, why: str = "", *, tick: bool = True) -> None:
        """Queue a run whose venv is ready; build the venv of one whose is not."""
        if self.builds.needs_build(record):
            self.builds.start(record, why)
            return
        self.enqueue(record, tick=tick)

    def enqueue(self, record: RunRecord, *, tick: bool = True) -> None:
        """Put a run in the queue, unless it still waits for a dependency, backoff or build."""
        if record.id in self.holds or record.id in self.builds.waiting:
            return  # released to the queue when that wait ends
        self.queue.enqueue(record)
        if tick:
            self.queue.tick()

    def env_ready(self, run_id: int, *, tick: bool = True) -> None:
        """A run's venv is ready: back to ``queued``, to wait for a slot."""
        record = self.ledger.get(run_id)
        self.ledger.record(run_id, RunState.QUEUED, None, self.clock())
        self.enqueue(record, tick=tick)

    def readmit(self, record: RunRecord) -> None:
        """A run that had not started when the daemon stopped: queue it, or build its env."""
        if record.state is RunState.QUEUED:
            if self.admit(record):
                self.enqueue(record, tick=False)
        elif not self.builds.needs_build(record):  # built, or its build finished
            if self.admit(record):
                self.env_ready(record.id, tick=False)
        elif record.state in (RunState.BUILDING, RunState.STAGING):
            if self.admit(record):
                self.builds.start(record, " again after a restart")
        else:
            now = self.clock()
            self.ledger.record(
                record.id,
                RunState.LOST,
                "its run folder holds no trace of the job starting",
                now,
                failed_by=FailedBy.EVD,
                ended_at=now,
            )

    # -- leaving ------------------------------------------------------------------------

    def withdraw(self, run_id: int) -> bool:
        """Stop ``run_id`` from waiting anywhere (cancelled); whether it was waiting."""
        queued = self.queue.dequeue(run_id)
        held = self.holds.release(run_id)
        building = self.builds.cancel(run_id)
        return queued or held or building

    def started(self, run_id: int) -> None:
        """A run started: its queue timeout no longer applies (dispatch's ``on_start``)."""
        self.holds.clear_deadline(run_id)

    def is_waiting(self, run_id: int) -> bool:
        """Whether the run is held or building."""
        return run_id in self.holds or run_id in self.builds.waiting

    def held_reason(self, run_id: int, names: Callable[[int], str]) -> str | None:
        """Why a held run waits, in words (``None`` if it is not held)."""
        return self.holds.reason(run_id, self.clock(), names)

    def reset(self) -> None:
        """Forget every hold and build wait (recovery rebuilds them)."""
        self.builds.reset()
        self.holds.clear()

    # -- twins: identical runs in flight compute once (the result cache) -----------------

    def follow(self, run_id: int, twin: int) -> None:
        """Hold ``run_id`` while ``twin`` computes its result."""
        self.holds.follow(run_id, twin)

    def take_over(self, run_id: int) -> bool:
        """Stop ``run_id`` waiting anywhere (it takes a result); whether it waited for a twin."""
        if not self.holds.following(run_id):
            return False
        self.withdraw(run_id)
        return True

    def run_alone(self, run_id: int) -> None:
        """``run_id``'s twin did not succeed: it runs, once nothing else holds it."""
        if self.holds.following(run_id):
            if not self.holds.unfollow(run_id):
                return  # released when its dependencies or backoff are done
        elif run_id in self.holds or run_id in self.builds.waiting:
            return
        with contextlib.suppress(StorageError):
            record = self.ledger.get(run_id)
            if not record.state.is_final and not self.queue.is_live(run_id):
                self.queue_or_build(record, " now that its twin did not succeed")

    # -- dependencies ---------------------------------------------------------------------

    def run_ended(self, run_id: int, state: RunState) -> None:
        """A run reached a final state: settle the runs waiting for it (a ledger listener)."""
        self.holds.clear_deadline(run_id)
        self.holds.quick_ends.pop(run_id, None)
        for dependant in sorted(self.holds.dependants(run_id)):
            if state is not RunState.SUCCEEDED:
                self._fail_dependant(dependant, run_id)
            elif self.holds.satisfied(dependant, run_id):
                self.enqueue(self.ledger.get(dependant))

    def _state_of(self, run_id: int) -> RunState | None:
        record = self.ledger.store.get_run(run_id)
        return None if record is None else record.state

    def _fail_dependant(self, run_id: int, dependency: int) -> None:
        """``run_id`` was to start after ``dependency`` succeeded, which it never will."""
        self.withdraw(run_id)
        other = self.ledger.store.get_run(dependency)
        what = (
            f"run {dependency} ({other.name}) {other.state.value}"
            if other
            else (f"run {dependency} was removed before it succeeded")
        )
        self.ledger.fail_before_start(
            run_id, f"{what}; this run was to start after it succeeded", FailedBy.DEPENDENCY
        )

    # -- retries and restarts ---------------------------------------------------------------

    def again(
        self, record: RunRecord, verdict: Verdict, stopping: str | None, ended: float
    ) -> bool:
        """Queue the run for another attempt if its policy says so; return whether it did.

        A preempted run always goes again, at once: that was not a failed attempt.
        """
        if stopping == "preempt" and verdict.reason == PREEMPTED:
            self._requeue_preempted(record, ended)
            return True
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
        self.ledger.record(
            record.id,
            RunState.QUEUED,
            describe_again(again, again.delay),
            ended,
            retry={"since": ended, "at": not_before, "outcome": again.outcome},
        )
        self._retry_later(record.id, again, not_before)
        return True

    def _requeue_preempted(self, record: RunRecord, ended: float) -> None:
        """Back to the queue, the attempt not counted; its next one runs with EVD_PREEMPTED=1."""
        by = self.preempted_by(record.id)
        reason = f"preempted by run {by}" if by is not None else "preempted"
        self.ledger.record(
            record.id,
            RunState.QUEUED,
            reason,
            ended,
            attempts=max(0, record.attempts - 1),
            retry={"since": ended, "preempted_by": by},
        )
        self.enqueue(self.ledger.get(record.id), tick=False)  # dispatch ticks after an end

    def _retry_later(self, run_id: int, again: Again, not_before: float) -> None:
        delay = max(0.0, not_before - self.clock())
        timer = self.ledger.loop.call_later(delay, self._retry_due, run_id)
        self.holds.retry_later(run_id, again, not_before, timer)

    def _retry_due(self, run_id: int) -> None:
        if self.holds.woken(run_id):
            with contextlib.suppress(StorageError):
                self.queue_or_build(self.ledger.get(run_id), " again for its next attempt")

    # -- queue timeouts -------------------------------------------------------------------

    def _queue_timed_out(self, run_id: int) -> None:
        """A run has not started within its ``--queue-timeout``: it ends ``timed_out``."""
        record = self.ledger.store.get_run(run_id)
        if record is None or record.state.is_final or self.queue.is_live(run_id):
            return
        waiting = self.describe_wait(record) or record.state.value
        policy = Policy.from_dict(record.policy)
        limit = format_duration(policy.queue_timeout or 0)
        self.withdraw(run_id)
        now = self.clock()
        secrets.forget_for_run(self.ledger.state.run_dir(run_id))
        with contextlib.suppress(StorageError):
            self.ledger.record(
                run_id,
                RunState.TIMED_OUT,
                f"did not start within its queue timeout ({limit}): {waiting}",
                now,
                ended_at=now,
            )
            self.queue.tick()
