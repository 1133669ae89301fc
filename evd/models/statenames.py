"""Run states and the exit codes ``evd wait`` gives, as the API's JSON says them.

Plain strings and numbers, no enum: the CLI reads the API's
JSON with these on every command. ``evd.models.states`` builds the enums on
them.
"""

from __future__ import annotations

# Every state, in the order of a run's life (see docs/architecture.md).
STATE_NAMES = (
    "queued",
    "building",
    "staging",
    "starting",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "lost",
)
FINAL_STATE_NAMES = frozenset({"succeeded", "failed", "cancelled", "timed_out", "lost"})
ACTIVE_STATE_NAMES = frozenset(STATE_NAMES) - FINAL_STATE_NAMES

# Exit codes of `evd wait` for runs that have no exit code of their own.
EXIT_TIMED_OUT = 124
EXIT_NOT_STARTED = 125
EXIT_CANCELLED = 130
