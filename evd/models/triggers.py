"""Watched folders and schedules on the wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evd.models.runs import SubmitRequest

# The options a trigger (a watched folder, a schedule) may set for the runs it starts.
TRIGGER_OPTIONS = (
    "environment", "cpus", "memory", "gpus", "gpu_memory", "priority", "timeout",
    "queue_timeout", "retries", "cluster", "name",
)  # fmt: skip


@dataclass
class WatchRequest:
    """Watch ``dir`` (absolute) for files matching ``pattern``; each becomes a run.

    ``options`` holds ``SubmitRequest`` fields for those runs (``TRIGGER_OPTIONS``).
    """

    dir: str
    pattern: str = "*.py"
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] | None = None  # the adder's shell, for its runs; None: the daemon's


@dataclass
class WatchInfo:
    """A watched folder (``evd watch ls``): what it picks up and how it is doing."""

    id: int
    dir: str
    pattern: str
    options: dict[str, Any]
    created_at: str
    status: str  # watching | missing (the folder is gone; watched again once it is back)
    note: str | None  # the last thing worth saying: a file gone before pickup, a filing error
    picked_up: int  # files run so far
    running: list[int]  # runs of its files not yet filed
    environment: list[str] = field(default_factory=list)  # variables kept for its runs (names)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchInfo:
        """Build from the API's JSON."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class ScheduleRequest:
    """Submit ``run`` on a schedule: ``spec`` is a cron expression or ``every 10s``.

    ``spec`` ``None``: the job file's own declaration (``Job(..., schedule=...)``,
    ``[tool.evd] schedule``). ``overlap``: what a fire does while the last fire's
    run is still going (``skip`` it, or ``queue`` one run behind it). Fires
    missed while evd was down become one run if the first was at most
    ``misfire_grace`` seconds ago, else they are skipped.
    """

    run: SubmitRequest
    spec: str | None = None
    overlap: str = "skip"
    misfire_grace: float = 3600.0


@dataclass
class ScheduleInfo:
    """A schedule (``evd schedule ls``): what it submits, when it fires next, how it went."""

    id: int
    spec: str
    what: str  # FILE[:FUNCTION] ARGS, or the command
    overlap: str
    misfire_grace: float
    paused: bool
    created_at: str
    next_fire_at: str | None
    last_fire_at: str | None
    last_run_id: int | None
    last_run_state: str | None
    fires: int
    pending: bool
    note: str | None
    options: dict[str, Any] = field(default_factory=dict)
    environment: list[str] = field(default_factory=list)  # variables kept for its runs (names)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleInfo:
        """Build from the API's JSON."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
