"""Watched folders: every matching file dropped into one becomes a run."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from evd.daemon.server.api.common import CONFLICT, WatchId, engine_of, json_response
from evd.daemon.triggers import environ
from evd.daemon.triggers.watched import Watched
from evd.daemon.triggers.watches import KIND
from evd.models import WatchInfo, WatchRequest, iso

router = APIRouter(prefix="/v1/watches", tags=["watches"])


def watch_view(
    watched: Watched, picked_up: int, running: list[int], hidden: list[str]
) -> WatchInfo:
    """A watch as the API shows it; ``hidden``: the names of its variables kept apart."""
    record = watched.record
    options = {k: v for k, v in record.options.items() if k != "env"}
    return WatchInfo(
        id=record.id,
        dir=record.dir,
        pattern=record.pattern,
        options=options,
        created_at=iso(record.created_at) or "",
        status="watching" if watched.handle is not None else "missing",
        note=watched.note,
        picked_up=picked_up,
        running=running,
        environment=sorted([*record.options.get("env", {}), *hidden]),
    )


def _views(request: Request, watches: list[Watched]) -> list[dict[str, object]]:
    engine = engine_of(request)
    counts = engine.store.watch_counts()
    unfiled = engine.store.unfiled_watch_files()
    views = []
    for watched in watches:
        running = [row.run_id for row in unfiled if row.watch_id == watched.record.id]
        hidden = environ.load_hidden(engine.state.root, KIND, watched.record.id)
        info = watch_view(watched, counts.get(watched.record.id, 0), running, list(hidden))
        views.append(info.__dict__)
    return views


@router.get("", response_model=list[WatchInfo])
async def ls(request: Request) -> Response:
    """Every watched folder, oldest first."""
    watches = engine_of(request).watches
    return json_response(_views(request, list(watches.watched.values())))


@router.post("", status_code=201, response_model=WatchInfo, responses=CONFLICT)
async def add(request: Request, body: WatchRequest) -> Response:
    """Watch a folder; files already in it are picked up too."""
    engine = engine_of(request)
    engine.gate.check()
    watched = engine.watches.add(body)
    return json_response(_views(request, [watched])[0], status_code=201)


@router.delete("/{watch_id}", response_model=WatchInfo)
async def rm(request: Request, watch_id: WatchId) -> Response:
    """Stop watching; runs already started from it still get filed."""
    engine = engine_of(request)
    engine.gate.check()
    watched = engine.watches.remove(watch_id)
    return json_response(_views(request, [watched])[0])
