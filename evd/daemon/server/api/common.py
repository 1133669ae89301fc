"""What every handler needs: the engine from the app, and fast JSON responses."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import Path, Request, Response

from evd.daemon.engine import Engine
from evd.errors import EvdError

# Every handler is `async def`: FastAPI runs plain `def` handlers in a thread
# pool, and the engine must only ever be touched from the event loop's thread.


def engine_of(request: Request) -> Engine:
    """The engine the app was built with."""
    engine: Engine = request.app.state.engine
    return engine


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_response(
    payload: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Serialise with the stdlib directly (FastAPI's generic encoder is slower)."""
    body = _ENCODER.encode(payload).encode()
    return Response(
        content=body, status_code=status_code, headers=headers, media_type="application/json"
    )


def json_list_response(items: Iterable[Any]) -> Response:
    """A JSON array encoded an item at a time, as ``json_response`` would encode the list.

    A listing of thousands of runs never holds all their views at once: the
    daemon's memory, once grown for a list, stays grown (~2 MiB per 500 runs).
    """
    body = ("[" + ",".join(map(_ENCODER.encode, items)) + "]").encode()
    return Response(content=body, media_type="application/json")


def error_response(error: EvdError) -> Response:
    """Evd's own error, as every route answers it: its words and its status."""
    return json_response({"error": str(error)}, status_code=error.http_status)


def internal_error_response(error: Exception) -> Response:
    """A fault in evd (500), named; the caller logs the traceback."""
    return json_response(
        {"error": f"internal error in evd ({type(error).__name__}: {error}); see evd.log"},
        status_code=500,
    )


# For routes that may answer 409 (the contract gives every error its body).
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the request conflicts with the state of what it names"}
}
MAX_ID = 2**63 - 1  # SQLite's largest integer
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="a run's id")]
GroupId = Annotated[int, Path(ge=1, le=MAX_ID, description="a group's id")]
WatchId = Annotated[int, Path(ge=1, le=MAX_ID, description="a watch's id")]
ScheduleId = Annotated[int, Path(ge=1, le=MAX_ID, description="a schedule's id")]
