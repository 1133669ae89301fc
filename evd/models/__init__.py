"""Wire models: what crosses the API, shared by the daemon, the client, the CLI and the TUI.

Plain dataclasses (standard library only) so the CLI's hot path and job code can
import them without pydantic; FastAPI validates request bodies against the same
classes. Times on the wire are ISO 8601 UTC strings; durations are seconds.

One module per resource (``states``, ``runs``, ``triggers``, ``system``), every
name re-exported here, so ``from evd.models import Run`` keeps working. The
re-exports are lazy (PEP 562): a name's module is imported when the name is
first asked for, so ``evd ps`` builds the run models, not the eighteen others
(each dataclass costs its creation at import).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from typing import Any

    from evd.models.runs import (
        Group,
        MapRequest,
        RerunRequest,
        Run,
        RunEvent,
        SubmitRequest,
    )
    from evd.models.states import (
        ACTIVE_STATES,
        EXIT_CANCELLED,
        EXIT_NOT_STARTED,
        EXIT_TIMED_OUT,
        FINAL_STATES,
        FailedBy,
        RunState,
        iso,
        parse_iso,
    )
    from evd.models.system import (
        CachedResult,
        CachePruneRequest,
        EnvBuildRequest,
        EnvInfo,
        EnvPruneRequest,
        Health,
        PruneRequest,
        PruneResult,
        VolumeInfo,
        VolumeRequest,
        WorkerInfo,
    )
    from evd.models.triggers import (
        TRIGGER_OPTIONS,
        ScheduleInfo,
        ScheduleRequest,
        WatchInfo,
        WatchRequest,
    )

_MODULE_OF = {
    "Group": "runs",
    "MapRequest": "runs",
    "RerunRequest": "runs",
    "Run": "runs",
    "RunEvent": "runs",
    "SubmitRequest": "runs",
    "ACTIVE_STATES": "states",
    "EXIT_CANCELLED": "states",
    "EXIT_NOT_STARTED": "states",
    "EXIT_TIMED_OUT": "states",
    "FINAL_STATES": "states",
    "FailedBy": "states",
    "RunState": "states",
    "iso": "states",
    "parse_iso": "states",
    "CachedResult": "system",
    "CachePruneRequest": "system",
    "EnvBuildRequest": "system",
    "EnvInfo": "system",
    "EnvPruneRequest": "system",
    "Health": "system",
    "PruneRequest": "system",
    "PruneResult": "system",
    "VolumeInfo": "system",
    "VolumeRequest": "system",
    "WorkerInfo": "system",
    "TRIGGER_OPTIONS": "triggers",
    "ScheduleInfo": "triggers",
    "ScheduleRequest": "triggers",
    "WatchInfo": "triggers",
    "WatchRequest": "triggers",
}

__all__ = [
    "ACTIVE_STATES",
    "EXIT_CANCELLED",
    "EXIT_NOT_STARTED",
    "EXIT_TIMED_OUT",
    "FINAL_STATES",
    "TRIGGER_OPTIONS",
    "CachePruneRequest",
    "CachedResult",
    "EnvBuildRequest",
    "EnvInfo",
    "EnvPruneRequest",
    "FailedBy",
    "Group",
    "Health",
    "MapRequest",
    "PruneRequest",
    "PruneResult",
    "RerunRequest",
    "Run",
    "RunEvent",
    "RunState",
    "ScheduleInfo",
    "ScheduleRequest",
    "SubmitRequest",
    "VolumeInfo",
    "VolumeRequest",
    "WatchInfo",
    "WatchRequest",
    "WorkerInfo",
    "iso",
    "parse_iso",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` when ``name`` is first asked for."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'evd.models' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - with warnings under it: not on a command's path

    value = getattr(importlib.import_module(f"evd.models.{module}"), name)
    globals()[name] = value
    return value
