"""Run states, who failed, the exit codes `evd wait` gives, and times on the wire."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from evd.models.isotime import parse_iso
from evd.models.statenames import (
    ACTIVE_STATE_NAMES,
    EXIT_CANCELLED,
    EXIT_NOT_STARTED,
    EXIT_TIMED_OUT,
    FINAL_STATE_NAMES,
    STATE_NAMES,
)

__all__ = [
    "ACTIVE_STATES",
    "ACTIVE_STATE_NAMES",
    "EXIT_CANCELLED",
    "EXIT_NOT_STARTED",
    "EXIT_TIMED_OUT",
    "FINAL_STATES",
    "FINAL_STATE_NAMES",
    "STATE_NAMES",
    "FailedBy",
    "RunState",
    "iso",
    "parse_iso",
]


class RunState(enum.StrEnum):
    """The states of a run (see ``docs/architecture.md`` for the machine)."""

    QUEUED = "queued"
    BUILDING = "building"
    STAGING = "staging"  # its inputs are fetched (after its env is built)
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


FINAL_STATES = frozenset(RunState(name) for name in FINAL_STATE_NAMES)
ACTIVE_STATES = frozenset(RunState) - FINAL_STATES


class FailedBy(enum.StrEnum):
    """Who a failure is attributed to."""

    USER = "user"  # the job's own code or command
    BUILD = "build"  # building the job's environment
    MACHINE = "machine"  # OOM, reboot, a process killed from outside
    EVD = "evd"  # a bug or fault in evd itself
    DEPENDENCY = "dependency"  # a run it was to start after did not succeed


def iso(timestamp: float | None) -> str | None:
    """Format a Unix time as ISO 8601 UTC with microseconds (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")
