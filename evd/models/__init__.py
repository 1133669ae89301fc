"""Wire models: what crosses the API, shared by the daemon, the client, the CLI and the TUI.

Plain dataclasses (standard library only) so the CLI's hot path and job code can
import them without pydantic; FastAPI validates request bodies against the same
classes. Times on the wire are ISO 8601 UTC strings; durations are seconds.

One module per resource (``states``, ``runs``, ``triggers``, ``system``), every
name re-exported here, so ``from evd.models import Run`` keeps working.
"""

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
    EnvBuildRequest,
    EnvInfo,
    EnvPruneRequest,
    Health,
    PruneRequest,
    PruneResult,
    VolumeInfo,
    VolumeRequest,
)
from evd.models.triggers import (
    TRIGGER_OPTIONS,
    ScheduleInfo,
    ScheduleRequest,
    WatchInfo,
    WatchRequest,
)

__all__ = [
    "ACTIVE_STATES",
    "EXIT_CANCELLED",
    "EXIT_NOT_STARTED",
    "EXIT_TIMED_OUT",
    "FINAL_STATES",
    "TRIGGER_OPTIONS",
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
    "iso",
    "parse_iso",
]
