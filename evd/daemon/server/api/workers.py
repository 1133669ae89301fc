"""Warm workers: the processes serving reusable jobs' runs (``evd workers``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from evd.daemon.server.api.common import engine_of, json_response
from evd.daemon.views import worker_view
from evd.models import WorkerInfo

router = APIRouter(prefix="/v1/workers", tags=["machine"])


@router.get("", response_model=list[WorkerInfo])
async def ls(request: Request) -> Response:
    """Every live warm worker, oldest first: what it serves and what it holds."""
    engine = engine_of(request)
    return json_response(
        [worker_view(worker) for worker in sorted(engine.workers, key=lambda w: w.id)]
    )
