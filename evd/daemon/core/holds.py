"""Runtime-only state of queued runs that wait for something other than capacity.

A held run is ``queued`` in the store but not in the scheduler's queue: it
waits for runs it depends on (``--after``) to succeed, or for the backoff
before its next attempt (``--retries``, ``--restart``), or for a run that
computes the same cached result (it takes that result, or runs if that run
fails). Queue-timeout timers live here too. Never persisted as such:
``Recovery.reconcile`` rebuilds it from each run's policy, its ``retry`` field,
the states of its dependencies and the result cache's keyed runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from evd.policy import Again, describe_again


@dataclass
class Hold:
    """Why one queued run may not start yet."""

    waiting_on: set[int] = field(default_factory=set)  # runs that must succeed first
    again: Again | None = None  # the attempt to come, for a retry or restart
    not_before: float = 0.0  # when that attempt may start
    timer: asyncio.TimerHandle | None = None
    twin: int | None = None  # the run computing the same cached result

    @property
    def done(self) -> bool:
        """Nothing left to wait for."""
        return not self.waiting_on and self.timer is None and self.twin is None


class Holds:
    """Held runs, who depends on whom, and queue deadlines."""

    def __init__(self) -> None:
        """Nothing held."""
        self._holds: dict[int, Hold] = {}
        self._dependants: dict[int, set[int]] = {}
        self._deadlines: dict[int, asyncio.TimerHandle] = {}
        self.quick_ends: dict[int, int] = {}  # a service's attempts in a row that ended quickly

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._holds

    def wait_for(self, run_id: int, dependencies: list[int]) -> None:
        """Hold ``run_id`` until each of ``dependencies`` has succeeded."""
        hold = self._holds.setdefault(run_id, Hold())
        hold.waiting_on.update(dependencies)
        for dependency in dependencies:
            self._dependants.setdefault(dependency, set()).add(run_id)

    def dependants(self, run_id: int) -> set[int]:
        """Runs waiting for ``run_id``, forgotten here (the caller settles each)."""
        return self._dependants.pop(run_id, set())

    def satisfied(self, run_id: int, dependency: int) -> bool:
        """``dependency`` succeeded; return whether ``run_id`` now waits for nothing."""
        hold = self._holds.get(run_id)
        if hold is None:
            return False
        hold.waiting_on.discard(dependency)
        if hold.done:
            del self._holds[run_id]
            return True
        return False

    def follow(self, run_id: int, twin: int) -> None:
        """Hold ``run_id`` while ``twin`` computes the result it would compute."""
        self._holds.setdefault(run_id, Hold()).twin = twin

    def unfollow(self, run_id: int) -> bool:
        """``run_id`` no longer waits for a twin; return whether it now waits for nothing."""
        hold = self._holds.get(run_id)
        if hold is None or hold.twin is None:
            return False
        hold.twin = None
        if hold.done:
            del self._holds[run_id]
            return True
        return False

    def following(self, run_id: int) -> bool:
        """Whether ``run_id`` waits for a twin's result."""
        hold = self._holds.get(run_id)
        return hold is not None and hold.twin is not None

    def retry_later(
        self, run_id: int, again: Again, not_before: float, timer: asyncio.TimerHandle
    ) -> None:
        """Hold ``run_id`` until ``not_before``; ``timer`` calls ``woken`` then."""
        hold = self._holds.setdefault(run_id, Hold())
        hold.again, hold.not_before, hold.timer = again, not_before, timer

    def woken(self, run_id: int) -> bool:
        """``run_id``'s backoff is over; return whether it now waits for nothing."""
        hold = self._holds.get(run_id)
        if hold is None:
            return False
        hold.timer, hold.again = None, None
        if hold.done:
            del self._holds[run_id]
            return True
        return False

    def release(self, run_id: int) -> bool:
        """Forget ``run_id`` (cancelled, failed, timed out); return whether it was held."""
        hold = self._holds.pop(run_id, None)
        if hold is None:
            return False
        if hold.timer is not None:
            hold.timer.cancel()
        for dependency in hold.waiting_on:
            waiting = self._dependants.get(dependency)
            if waiting is not None:
                waiting.discard(run_id)
                if not waiting:
                    del self._dependants[dependency]
        return True

    def set_deadline(self, run_id: int, timer: asyncio.TimerHandle) -> None:
        """Arm ``run_id``'s queue timeout (replacing any earlier one)."""
        self.clear_deadline(run_id)
        self._deadlines[run_id] = timer

    def clear_deadline(self, run_id: int) -> None:
        """Disarm ``run_id``'s queue timeout (it started, or ended)."""
        timer = self._deadlines.pop(run_id, None)
        if timer is not None:
            timer.cancel()

    def reason(self, run_id: int, now: float, names: Callable[[int], str]) -> str | None:
        """Why a held run waits, in words (``None`` if it is not held)."""
        hold = self._holds.get(run_id)
        if hold is None:
            return None
        if hold.waiting_on:
            waiting = ", ".join(names(i) for i in sorted(hold.waiting_on))
            return f"waiting for {waiting} to succeed"
        if hold.again is not None:
            return describe_again(hold.again, hold.not_before - now)
        if hold.twin is not None:
            return (
                f"waiting for {names(hold.twin)}, which computes the same result:"
                " it takes that result when it succeeds (cache)"
            )
        return None

    def clear(self) -> None:
        """Forget everything (recovery is rebuilding the runtime state)."""
        for hold in self._holds.values():
            if hold.timer is not None:
                hold.timer.cancel()
        for timer in self._deadlines.values():
            timer.cancel()
        self._holds.clear()
        self._dependants.clear()
        self._deadlines.clear()
        self.quick_ends.clear()
