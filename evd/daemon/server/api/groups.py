"""Groups: fan-outs of one job over a list of items (``evd run --map``, ``job.map``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from evd.daemon.server.api.common import CONFLICT, MAX_ID, GroupId, engine_of, json_response
from evd.daemon.views import group_view
from evd.models import ACTIVE_STATES, Group, MapRequest

router = APIRouter(prefix="/v1/groups", tags=["groups"])

MAX_WAIT = 300.0


@router.post("", status_code=201, response_model=Group)
async def submit_map(request: Request, body: MapRequest) -> Response:
    """Submit the job once per item, all in one new group."""
    engine = engine_of(request)
    group = await engine.intake.submit_map(body)
    return json_response(group_view(engine.board, group).to_dict(), status_code=201)


@router.get("", response_model=list[Group])
async def list_groups(
    request: Request,
    active: Annotated[bool, Query(description="only groups with a run not yet ended")] = False,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="at most this many, newest first")
    ] = None,
) -> Response:
    """Groups, newest first."""
    engine = engine_of(request)
    groups = engine.store.list_groups(ACTIVE_STATES if active else None, limit)
    return json_response([group_view(engine.board, group).to_dict() for group in groups])


@router.get("/{group_id}", response_model=Group)
async def show(request: Request, group_id: GroupId) -> Response:
    """One group: its runs' states added up, and their ids."""
    engine = engine_of(request)
    return json_response(group_view(engine.board, engine.ledger.get_group(group_id)).to_dict())


@router.post("/{group_id}/cancel", response_model=Group, responses=CONFLICT)
async def cancel(request: Request, group_id: GroupId) -> Response:
    """Cancel every run of the group that has not ended."""
    engine = engine_of(request)
    return json_response(
        group_view(engine.board, engine.cancellation.cancel_group(group_id)).to_dict()
    )


@router.get("/{group_id}/wait", response_model=Group)
async def wait(
    request: Request,
    group_id: GroupId,
    timeout: Annotated[float, Query(gt=0, le=MAX_WAIT)] = 30.0,
) -> Response:
    """The group once every run is final, or as it is after ``timeout`` seconds (long poll)."""
    engine = engine_of(request)
    group = await engine.ledger.wait_group(group_id, timeout)
    return json_response(group_view(engine.board, group).to_dict())
