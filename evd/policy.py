"""Run policies: retries, restarts, dependencies and queue timeouts (pure functions).

The engine arms timers and moves runs; every decision is made here, from plain
values, so tests step them with any clock.

* ``--retries N``: a run whose attempt failed (its code exited non-zero, was
  killed, timed out, or was lost with the machine) is queued again, up to N
  more attempts, after ``backoff`` (base, then doubling, capped). A run that
  was cancelled, or failed before its code ran (a build, a bad file), is not
  retried: another attempt would fail the same way.
* ``--restart on-failure|always``: a service. It is started again after every
  failed attempt (``on-failure``) or every end (``always``) until cancelled;
  the delay doubles while attempts end quickly and starts over after one ran
  for ``STEADY_SECONDS``.
* ``--after ID``: the run starts only after every run it names succeeded; if
  one ends any other way, the run fails without starting, saying which.
* ``--queue-timeout``: a run that has not started that long after it was
  submitted ends ``timed_out`` with the reason it was waiting.
* ``--preemptible``: the run may be stopped for a run of higher priority that
  cannot start otherwise, and is queued again (``evd.preemption`` chooses;
  ``evd.daemon.core.preempting`` acts). That is not a failed attempt.
* ``--keep-children``: processes the job started and left running when its
  main process ended are left alone (by default evd stops them: see
  ``evd.daemon.core.reaping``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evd.models import FailedBy, RunState

MAX_BACKOFF = 300.0
STEADY_SECONDS = 60.0
RETRIED_STATES = frozenset({RunState.FAILED, RunState.TIMED_OUT, RunState.LOST})
RETRIED_FAILURES = frozenset({None, FailedBy.USER, FailedBy.MACHINE})


@dataclass(frozen=True)
class Policy:
    """What a run does when it ends or waits: retries, restart, dependencies, queue timeout."""

    retries: int = 0
    restart: str = "no"
    after: tuple[int, ...] = ()
    queue_timeout: float | None = None
    keep_children: bool = False
    preemptible: bool = False

    @property
    def attempts_in_all(self) -> int | None:
        """How many attempts a run may make (``None``: a service, until cancelled)."""
        return None if self.restart != "no" else self.retries + 1

    def to_dict(self) -> dict[str, Any]:
        """For the store (only what differs from the defaults)."""
        data: dict[str, Any] = {}
        if self.retries:
            data["retries"] = self.retries
        if self.restart != "no":
            data["restart"] = self.restart
        if self.after:
            data["after"] = list(self.after)
        if self.queue_timeout is not None:
            data["queue_timeout"] = self.queue_timeout
        if self.keep_children:
            data["keep_children"] = True
        if self.preemptible:
            data["preemptible"] = True
        return data

    @staticmethod
    def preemptible_in(data: Mapping[str, Any] | None) -> bool:
        """Whether a stored policy lets its run be preempted (cheaper than ``from_dict``)."""
        return bool(data and data.get("preemptible"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Policy:
        """From the store (``None``: the defaults)."""
        if not data:
            return cls()
        return cls(
            retries=int(data.get("retries", 0)),
            restart=str(data.get("restart", "no")),
            after=tuple(int(i) for i in data.get("after", ())),
            queue_timeout=data.get("queue_timeout"),
            keep_children=bool(data.get("keep_children", False)),
            preemptible=bool(data.get("preemptible", False)),
        )


def backoff(base: float, step: int) -> float:
    """The delay before attempt ``step + 1``: ``base``, doubling per step, at most 5 min."""
    return float(min(MAX_BACKOFF, base * 2 ** max(0, step - 1)))


@dataclass(frozen=True)
class Again:
    """A decision to run once more: after ``delay`` seconds, and how to say so."""

    delay: float
    attempt: int  # the number of the attempt to come
    of: int | None  # how many attempts in all (None: a service, until cancelled)
    outcome: str  # what happened to the attempt that just ended


def run_again(
    policy: Policy,
    *,
    attempts: int,
    state: RunState,
    failed_by: FailedBy | None,
    stopped: str | None,
    outcome: str,
    quick_ends: int,
    base: float,
) -> Again | None:
    """Whether a run whose attempt just ended (``state``) goes again, and when.

    ``attempts`` counts attempts made so far (including this one); ``stopped``
    is ``"cancel"`` if a person stopped it; ``quick_ends`` counts the service's
    attempts in a row that ended within ``STEADY_SECONDS`` (this one included).
    """
    if stopped == "cancel" or state is RunState.CANCELLED:
        return None
    failed = state in RETRIED_STATES and failed_by in RETRIED_FAILURES
    if policy.restart == "always" or (policy.restart == "on-failure" and failed):
        return Again(backoff(base, quick_ends), attempts + 1, None, outcome)
    if policy.restart == "no" and failed and attempts <= policy.retries:
        return Again(backoff(base, attempts), attempts + 1, policy.attempts_in_all, outcome)
    return None


def describe_again(again: Again, seconds_left: float) -> str:
    """``retry 2 of 3 in 4 s (attempt 1 exited with code 3)`` for a waiting run's reason."""
    left = f"{max(0.0, seconds_left):.0f} s"
    if again.of is None:
        return f"restart (attempt {again.attempt}) in {left}; the last attempt {again.outcome}"
    last = again.attempt - 1
    return f"retry {again.attempt} of {again.of} in {left}; attempt {last} {again.outcome}"


def dependency_block(
    after: tuple[int, ...], states: Mapping[int, RunState | None]
) -> tuple[list[int], int | None]:
    """The runs of ``after`` not yet succeeded, and the first that never will (or ``None``).

    ``states`` maps each id to its state, ``None`` for a run that no longer
    exists (pruned: it had finished; evd cannot say how, so it counts as not
    succeeded).
    """
    pending: list[int] = []
    for run_id in after:
        state = states.get(run_id)
        if state is RunState.SUCCEEDED:
            continue
        if state is None or state.is_final:
            return pending, run_id
        pending.append(run_id)
    return pending, None


def queue_deadline(policy: Policy, created_at: float, started_once: bool) -> float | None:
    """When a run that has not started gives up waiting (``None``: never)."""
    if policy.queue_timeout is None or started_once:
        return None
    return created_at + policy.queue_timeout
