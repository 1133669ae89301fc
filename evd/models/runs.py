"""Runs and groups on the wire: submits, re-runs, maps, and what the API shows of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evd.models.states import FailedBy, RunState


@dataclass
class SubmitRequest:
    """A job to run: a command, or a Python file (and function) with arguments.

    ``env`` is the submitter's environment variables; ``environment`` names the
    evd environment to run in (``--env NAME|FILE``). ``priority`` ``None`` means
    "as the job declares, else 0".
    """

    command: list[str] | None = None
    file: str | None = None
    function: str | None = None
    args: list[str] = field(default_factory=list)
    name: str | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    environment: str | None = None
    timeout: float | None = None
    priority: int | None = None
    cpus: float | None = None  # None: as the job declares, else 1
    memory: int | None = None  # bytes reserved; None: as declared, else none
    gpus: float | None = None  # whole devices, or a fraction of one; None: as declared, else 0
    gpu_memory: int | None = None  # bytes per device
    disk: int | None = None  # bytes the run's folder may use (counted at start, enforced)
    retries: int | None = None  # more attempts after a failed one; None: as declared, else 0
    restart: str | None = None  # no | on-failure | always; None: as declared, else no
    after: list[int] = field(default_factory=list)  # start once these runs have succeeded
    queue_timeout: float | None = None  # give up if not started this long after submit
    cluster: str | None = None  # run on this Ray cluster (Daft's Ray runner); None: as declared
    keep_children: bool | None = None  # leave what the job started running; None: as declared
    # May be stopped (and queued again) for a run of higher priority; None: as declared.
    preemptible: bool | None = None
    # The result cache: use (look up, file on success), off, refresh (run, replace the
    # entry); None: as the job declares (``Job(cache=...)``), else off.
    cache: str | None = None
    labels: dict[str, str] | None = None  # key = value, over the job's declared labels


@dataclass
class RerunRequest:
    """Run a job again (``POST /v1/runs/ID/rerun``, ``POST /v1/jobs/NAME/run``).

    ``args``: the job's words this time (``None``: as last time).
    """

    args: list[str] | None = None


@dataclass
class MapRequest:
    """A fan-out: the job ``run`` once per item, all runs in one group.

    An item that is a JSON array gives positional arguments, an object keyword
    arguments, anything else one argument. A job's function gets the JSON
    values themselves; a plain script or a command gets them as words
    (``{"n": 3}`` is ``--n 3``). ``run.name`` names the group; its runs are
    ``NAME[0]``, ``NAME[1]``...
    """

    run: SubmitRequest
    items: list[Any]


@dataclass
class Group:
    """A fan-out group as the API shows it (``evd show gID --json``).

    ``state`` sums the runs up: ``queued`` until one starts, ``running`` while
    any is active, then ``succeeded`` (all did), ``cancelled`` (every one that
    did not succeed was cancelled) or ``failed``. ``progress`` counts a final
    run as 1 and a running one by its own progress.
    """

    id: int
    name: str
    size: int
    state: str
    progress: float
    counts: dict[str, int]  # runs per state (only states some run is in)
    run_ids: list[int]
    created_at: str
    ended_at: str | None
    file: str | None = None
    function: str | None = None

    @property
    def done(self) -> int:
        """How many of its runs have ended."""
        return sum(n for state, n in self.counts.items() if RunState(state).is_final)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Group:
        """Build from the API's JSON."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


@dataclass
class RunEvent:
    """One state change of a run, as recorded (never overwritten)."""

    id: int
    run_id: int
    state: RunState
    reason: str | None
    at: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunEvent:
        """Build from the API's JSON."""
        return cls(
            id=data["id"],
            run_id=data["run_id"],
            state=RunState(data["state"]),
            reason=data.get("reason"),
            at=data["at"],
        )


@dataclass
class Run:
    """A run as the API shows it (``evd show ID --json``)."""

    id: int
    name: str
    state: RunState
    reason: str | None
    exit_code: int | None
    attempts: int
    gpus: list[int]
    progress: float | None
    env: str | None
    created_at: str
    started_at: str | None
    ended_at: str | None
    command: list[str]
    cwd: str
    priority: int
    timeout: float | None
    failed_by: FailedBy | None
    pid: int | None
    log_path: str
    kind: str = "command"  # command | script | job | function
    env_hash: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] | None = None  # files in the run's outputs folder (show)
    events: list[RunEvent] | None = None
    resources: dict[str, Any] = field(default_factory=dict)  # cpus, memory, gpus, gpu_memory
    policy: dict[str, Any] = field(default_factory=dict)  # retries, restart, after, queue_timeout
    metrics: dict[str, Any] = field(default_factory=dict)  # peaks: cpu_percent, rss, gpu_memory
    # A running run's last progress report: source (daft, sdk, output), and as
    # reported: query, operator, rows (Daft); done, total, message.
    progress_detail: dict[str, Any] = field(default_factory=dict)
    group: int | None = None  # the fan-out group it belongs to (``evd run --map``)
    group_index: int | None = None  # its item's place in that group (0-based)
    # Shell variables whose names look secret: the job got them; only their names are kept.
    hidden_variables: list[str] = field(default_factory=list)
    cache_key: str | None = None  # its key in the result cache, when it uses the cache
    cached_from: int | None = None  # the run whose result it took from the cache
    labels: dict[str, str] = field(default_factory=dict)  # `evd run --label`, declared labels
    meta: dict[str, str] = field(default_factory=dict)  # declared notes (a spec's `meta`)
    # Declared inputs (where each comes from, its target); in `evd show`, with what staging
    # found: the path the job saw, size, checksum or version, whether it came from the cache.
    inputs: list[dict[str, Any]] = field(default_factory=list)
    published: list[dict[str, Any]] | None = None  # outputs published, and where (show)
    # Seconds it should take, from alike runs that succeeded (None: no history). A plan,
    # never a limit.
    estimate: float | None = None
    expected_start: str | None = None  # a queued run's forecast start (None: unknown)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """Build from the API's JSON."""
        events = data.get("events")
        failed_by = data.get("failed_by")
        return cls(
            id=data["id"],
            name=data["name"],
            state=RunState(data["state"]),
            reason=data.get("reason"),
            exit_code=data.get("exit_code"),
            attempts=data.get("attempts", 0),
            gpus=list(data.get("gpus") or []),
            progress=data.get("progress"),
            env=data.get("env"),
            created_at=data["created_at"],
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            command=list(data["command"]),
            cwd=data["cwd"],
            priority=data.get("priority", 0),
            timeout=data.get("timeout"),
            failed_by=FailedBy(failed_by) if failed_by else None,
            pid=data.get("pid"),
            log_path=data["log_path"],
            kind=data.get("kind", "command"),
            env_hash=data.get("env_hash"),
            settings=dict(data.get("settings") or {}),
            volumes=list(data.get("volumes") or []),
            outputs=data.get("outputs"),
            events=[RunEvent.from_dict(e) for e in events] if events is not None else None,
            resources=dict(data.get("resources") or {}),
            policy=dict(data.get("policy") or {}),
            metrics=dict(data.get("metrics") or {}),
            progress_detail=dict(data.get("progress_detail") or {}),
            group=data.get("group"),
            group_index=data.get("group_index"),
            hidden_variables=list(data.get("hidden_variables") or []),
            cache_key=data.get("cache_key"),
            cached_from=data.get("cached_from"),
            labels=dict(data.get("labels") or {}),
            meta=dict(data.get("meta") or {}),
            inputs=list(data.get("inputs") or []),
            published=data.get("published"),
            estimate=data.get("estimate"),
            expected_start=data.get("expected_start"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``events`` and ``outputs`` only when loaded."""
        data = asdict(self)
        for optional in ("events", "outputs", "published"):
            if data[optional] is None:
                del data[optional]
        return data
