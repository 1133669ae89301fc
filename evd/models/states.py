"""Run states, who failed, the exit codes `evd wait` gives, and times on the wire."""

from __future__ import annotations

import enum
from datetime import UTC, datetime


class RunState(enum.StrEnum):
    """The states of a run (see ``docs/architecture.md`` for the machine)."""

    QUEUED = "queued"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    LOST = "lost"

    @property
    def is_final(self) -> bool:
        """Whether the run has ended and will not change again."""
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT, RunState.LOST}
)


ACTIVE_STATES = frozenset(RunState) - FINAL_STATES
# The same as the JSON says them, for code that reads the API's JSON as it is.
FINAL_STATE_NAMES = frozenset(state.value for state in FINAL_STATES)
ACTIVE_STATE_NAMES = frozenset(state.value for state in ACTIVE_STATES)


class FailedBy(enum.StrEnum):
    """Who a failure is attributed to."""

    USER = "user"  # the job's own code or command
    BUILD = "build"  # building the job's environment
    MACHINE = "machine"  # OOM, reboot, a process killed from outside
    EVD = "evd"  # a bug or fault in evd itself
    DEPENDENCY = "dependency"  # a run it was to start after did not succeed


# Exit codes of `evd wait` for runs that have no exit code of their own.
EXIT_TIMED_OUT = 124


EXIT_NOT_STARTED = 125


EXIT_CANCELLED = 130


def iso(timestamp: float | None) -> str | None:
    """Format a Unix time as ISO 8601 UTC with microseconds (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> float:
    """Parse an ISO 8601 time from the API into a Unix time."""
    return datetime.fromisoformat(text).timestamp()
