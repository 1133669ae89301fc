"""Rows of the store as Python objects (internal; the API shows ``evd.models.Run``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evd.models import FailedBy, RunState


@dataclass
class RunRecord:
    """One row of ``runs``: a run's current state and everything needed to start it."""

    id: int
    name: str
    state: RunState
    reason: str | None
    exit_code: int | None
    failed_by: FailedBy | None
    attempts: int
    command: list[str]
    cwd: str
    env: dict[str, str] | None
    priority: int
    timeout: float | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    pid: int | None
    stop_reason: str | None
    progress: float | None
    spec: dict[str, Any] | None = None  # the declaration as resolved at submit
    env_hash: str | None = None
    resources: dict[str, Any] | None = None  # the Request (cpus, memory, gpus, gpu_memory)
    gpus: list[int] | None = None  # the devices it holds (or held)
    policy: dict[str, Any] | None = None  # retries, restart, after, queue_timeout
    retry: dict[str, Any] | None = None  # while it waits to go again: since, at, outcome
    metrics: dict[str, Any] | None = None  # peaks: cpu_percent, rss, gpu_memory per device
    group_id: int | None = None  # the fan-out group it belongs to
    group_index: int | None = None  # its item's place in the group (0-based)
    cache_key: str | None = None  # its result's key in the result cache, when it may be cached
    cached_from: int | None = None  # the run whose cached result it took


@dataclass
class EventRecord:
    """One row of ``run_events``: a state change, its time and its reason."""

    id: int
    run_id: int
    state: RunState
    reason: str | None
    at: float


@dataclass
class EnvRecord:
    """One row of ``envs``: a built venv."""

    hash: str
    python: str
    requirements: list[str]
    size: int
    build_seconds: float
    built_at: float
    last_used_at: float | None


@dataclass
class VolumeRecord:
    """One row of ``volumes``: a named data folder jobs ask for."""

    name: str
    path: str
    created_at: float


@dataclass
class GroupRecord:
    """One row of ``groups``: a fan-out's name, its size, and what it ran."""

    id: int
    name: str
    size: int
    created_at: float
    spec: dict[str, Any] | None = None  # source file, function, kind
    parent_run: int | None = None  # the run that made it (``job.map`` inside a job)


@dataclass
class WatchRecord:
    """One row of ``watches``: a folder, the file pattern, and the options of its runs."""

    id: int
    dir: str
    pattern: str
    options: dict[str, Any]  # SubmitRequest fields (environment, gpus, cpus, ...)
    created_at: float


@dataclass
class WatchFileRecord:
    """One row of ``watch_files``: a file picked up from a watched folder, and its run."""

    id: int
    watch_id: int
    dir: str
    name: str
    identity: str
    run_id: int
    picked_at: float
    filed_at: float | None = None
    filed_to: str | None = None


@dataclass
class ScheduleRecord:
    """One row of ``schedules``: when to fire, what to submit, and what happened last."""

    id: int
    spec: str  # a cron expression, or ``every 10s``
    request: dict[str, Any]  # SubmitRequest fields
    overlap: str  # skip | queue
    misfire_grace: float
    paused: bool
    created_at: float
    next_fire_at: float | None = None
    last_fire_at: float | None = None
    last_run_id: int | None = None
    pending: bool = False
    fires: int = 0
    note: str | None = None


@dataclass
class CacheEntry:
    """One row of ``cache``: a result kept for its key, and the run that made it."""

    key: str
    run_id: int
    created_at: float
    hits: int
    last_hit_at: float | None
