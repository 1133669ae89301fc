"""The daemon, its environments and volumes on the wire: health, prune, envs, volumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Health:
    """What ``GET /v1/health`` answers."""

    version: str
    pid: int
    home: str
    started_at: str
    parallel: int | None  # None: no cap beyond what the runs' resources allow
    accepting: bool
    degraded: str | None = None  # why the database cannot be written, while it cannot
    draining: bool = False  # `evd drain`: nothing new starts
    http: str | None = None  # HOST:PORT of the HTTP trigger, when it is on
    # The newest stored event: `GET /v1/events?after=` this misses nothing that
    # happens after a listing read following this answer.
    last_event: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Health:
        """Build from the API's JSON."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class PruneRequest:
    """Remove finished runs that ended more than ``older_than`` seconds ago."""

    older_than: float


@dataclass
class PruneResult:
    """How many runs a prune removed."""

    removed: int


@dataclass
class EnvInfo:
    """A built environment (``evd envs ls``)."""

    hash: str
    python: str
    requirements: list[str]
    size: int
    build_seconds: float
    built_at: str
    last_used_at: str | None
    active_runs: int
    runs: int
    path: str
    torch: str | None = None  # ``torch 2.5.1+cu124 (CUDA 12.4)``: what its torch was built for

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvInfo:
        """Build from the API's JSON."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class VolumeInfo:
    """A named volume (``evd volumes ls``)."""

    name: str
    path: str
    created_at: str
    exists: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolumeInfo:
        """Build from the API's JSON."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class VolumeRequest:
    """Define a volume: a name and an absolute path."""

    name: str
    path: str


@dataclass
class EnvBuildRequest:
    """Build the environment a job file (or a named env) needs, without running anything."""

    file: str | None = None
    environment: str | None = None
    cwd: str | None = None


@dataclass
class EnvPruneRequest:
    """Remove environments no queued or running run needs, unused for ``older_than`` s."""

    older_than: float = 0.0


@dataclass
class CachedResult:
    """An entry of the result cache (``evd cache ls``): a key and the run whose result it keeps."""

    key: str
    run_id: int
    name: str  # the run's name
    created_at: str
    hits: int  # runs that took this result
    last_hit_at: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CachedResult:
        """Build from the API's JSON."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class CachePruneRequest:
    """Forget cached results made over ``older_than`` seconds ago and not used since."""

    older_than: float = 0.0


@dataclass
class WorkerInfo:
    """A warm worker (``evd workers``): a process serving the runs of one reusable job.

    ``state``: ``serving`` a run, ``idle`` (warm, waiting for one), ``stopping``
    (its run was stopped and its call is still returning) or ``retiring``.
    """

    id: int
    name: str  # the job's name
    state: str
    pid: int  # its shim's, the leader of its process group
    serving: int | None  # the run it is serving
    runs: int  # runs it has served
    started_at: str
    idle_ttl: float
    replicas: int
    cpus: float
    memory: int
    gpus: list[int]
    source: str  # the job's file

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerInfo:
        """Build from the API's JSON."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
