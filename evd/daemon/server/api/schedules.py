"""Schedules: a job submitted on a cron expression or every N seconds."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from evd.daemon.engine import Engine
from evd.daemon.server.api.common import CONFLICT, ScheduleId, engine_of, json_response
from evd.daemon.triggers import environ
from evd.daemon.triggers.schedules import KIND, describe_what
from evd.models import ScheduleInfo, ScheduleRequest, iso
from evd.store.records import ScheduleRecord

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])


def schedule_view(engine: Engine, record: ScheduleRecord) -> dict[str, object]:
    """A schedule as the API shows it, with its last run's state."""
    last = engine.store.get_run(record.last_run_id) if record.last_run_id else None
    options = {
        k: v
        for k, v in record.request.items()
        if k not in ("command", "file", "function", "args", "cwd", "env")
    }
    hidden = environ.load_hidden(engine.state.root, KIND, record.id)
    info = ScheduleInfo(
        id=record.id,
        spec=record.spec,
        what=describe_what(record.request),
        overlap=record.overlap,
        misfire_grace=record.misfire_grace,
        paused=record.paused,
        created_at=iso(record.created_at) or "",
        next_fire_at=None if record.paused else iso(record.next_fire_at),
        last_fire_at=iso(record.last_fire_at),
        last_run_id=record.last_run_id,
        last_run_state=last.state.value if last else None,
        fires=record.fires,
        pending=record.pending,
        note=record.note,
        options=options,
        environment=sorted([*record.request.get("env", {}), *hidden]),
    )
    return info.__dict__


@router.get("", response_model=list[ScheduleInfo])
async def ls(request: Request) -> Response:
    """Every schedule, oldest first, with its next fire time."""
    engine = engine_of(request)
    return json_response([schedule_view(engine, r) for r in engine.store.list_schedules()])


@router.post("", status_code=201, response_model=ScheduleInfo, responses=CONFLICT)
async def add(request: Request, body: ScheduleRequest) -> Response:
    """Add a schedule; the file is read now, so a mistake in it is said at once."""
    engine = engine_of(request)
    record = await engine.schedules.add(body)
    return json_response(schedule_view(engine, record), status_code=201)


@router.delete("/{schedule_id}", response_model=ScheduleInfo)
async def rm(request: Request, schedule_id: ScheduleId) -> Response:
    """Delete a schedule (its runs stay)."""
    engine = engine_of(request)
    return json_response(schedule_view(engine, engine.schedules.remove(schedule_id)))


@router.post("/{schedule_id}/pause", response_model=ScheduleInfo)
async def pause(request: Request, schedule_id: ScheduleId) -> Response:
    """Stop firing until resumed (fires meanwhile are not made up)."""
    engine = engine_of(request)
    return json_response(schedule_view(engine, engine.schedules.pause(schedule_id, True)))


@router.post("/{schedule_id}/resume", response_model=ScheduleInfo)
async def resume(request: Request, schedule_id: ScheduleId) -> Response:
    """Fire again, from the next fire time after now."""
    engine = engine_of(request)
    return json_response(schedule_view(engine, engine.schedules.pause(schedule_id, False)))
