"""What every handler needs: the engine from the app, and fast JSON responses."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response

from evd.daemon.engine import Engine

# Every handler is `async def`: FastAPI runs plain `def` handlers in a thread
# pool, and the engine must only ever be touched from the event loop's thread.


def engine_of(request: Request) -> Engine:
    """The engine the app was built with."""
    engine: Engine = request.app.state.engine
    return engine


def json_response(payload: Any, status_code: int = 200) -> Response:
    """Serialise with the stdlib directly (FastAPI's generic encoder is slower)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content=body, status_code=status_code, media_type="application/json")
