"""Run-time estimates learned from history: which runs are alike, and how long such runs take.

Pure functions. Runs are *alike* when they have the same name and run the same
thing in the same environment: the same job file and function (its arguments
aside), or the same command. An estimate is a high quantile of the alike runs'
recent successful durations, so most runs end within it; with no history there
is none. An estimate plans; it never stops a run (``--timeout`` does that).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

QUANTILE = 0.9  # most alike runs ended within the estimate
HISTORY = 20  # the newest this many successful runs count


def alike_key(name: str, spec: dict[str, Any], command: Sequence[str], env_hash: str | None) -> str:
    """The key of runs like this one: name, what it runs, and its environment."""
    if spec.get("source"):  # a job file: which file and function, whatever the arguments
        what: list[Any] = ["file", spec["source"], spec.get("function") or spec.get("entry")]
    else:
        what = ["command", list(command)]
    text = json.dumps([name.split("[", maxsplit=1)[0], what, env_hash], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def estimate(durations: Sequence[float], quantile: float = QUANTILE) -> float | None:
    """The ``quantile`` of ``durations`` (nearest rank), or ``None`` for no history."""
    if not durations:
        return None
    ordered = sorted(durations)
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1]
