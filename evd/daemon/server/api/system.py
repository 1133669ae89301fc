"""The daemon itself: health, shutdown, prune."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response

from evd import __version__
from evd.daemon.server.api.common import engine_of, json_response
from evd.errors import InvalidRequest
from evd.models import Health, PruneRequest, PruneResult, iso

router = APIRouter(prefix="/v1", tags=["daemon"])


@router.get("/health", response_model=Health)
async def health(request: Request) -> Response:
    """Version, pid and settings of the daemon."""
    engine = engine_of(request)
    return json_response(
        {
            "version": __version__,
            "pid": os.getpid(),
            "home": str(engine.state.root),
            "started_at": iso(request.app.state.started_at),
            "parallel": engine.dispatch.parallel,
            "accepting": engine.gate.accepting,
            "draining": engine.gate.draining,
            "http": engine.http,
            "degraded": engine.degraded,
            "last_event": engine.store.last_event_id(),
        }
    )


@router.post("/shutdown", status_code=202)
async def shutdown(request: Request) -> Response:
    """Stop taking work and exit; running jobs go on under their shims."""
    engine_of(request).request_shutdown()
    return json_response({"stopping": True}, status_code=202)


@router.post("/prune", response_model=PruneResult)
async def prune(request: Request, body: PruneRequest) -> Response:
    """Delete finished runs that ended more than ``older_than`` seconds ago, and their folders."""
    if not body.older_than >= 0:
        raise InvalidRequest(f"older_than is a number of seconds, 0 or more, not {body.older_than}")
    return json_response({"removed": engine_of(request).prune(body.older_than)})


@router.post("/drain", response_model=Health)
async def drain(request: Request) -> Response:
    """Start nothing new until ``resume``; running runs finish. Survives restarts."""
    engine_of(request).drain(True)
    return await health(request)


@router.post("/resume", response_model=Health)
async def resume(request: Request) -> Response:
    """Start queued runs again after ``drain``."""
    engine_of(request).drain(False)
    return await health(request)
