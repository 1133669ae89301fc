"""The events stream: every state change of every run, as server-sent events.

Each event's ``id`` is its row id in the store, so a client that reconnects
with ``Last-Event-ID`` (or ``?after=``) gets exactly what it missed. With
``?progress=true`` the stream also carries running runs' progress reports
(``event: progress``, ``kind: "progress"``); those are live only, never replayed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from evd.daemon.engine import Engine
from evd.daemon.server.api.common import MAX_ID, engine_of
from evd.daemon.views import event_payload

router = APIRouter(prefix="/v1", tags=["events"])

KEEPALIVE = 15.0


def _frame(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    if payload.get("kind") == "progress":  # not stored, so no id to resume from
        return f"event: progress\ndata: {data}\n\n".encode()
    return f"id: {payload['id']}\nevent: run\ndata: {data}\n\n".encode()


async def _stream(engine: Engine, after: int | None, progress: bool) -> AsyncIterator[bytes]:
    subscription = engine.bus.subscribe()  # before the replay, so nothing falls between
    try:
        last = after if after is not None else engine.store.last_event_id()
        while True:
            replay = engine.store.events_after(last)
            for event in replay:
                yield _frame(event_payload(engine.board, event))
                last = event.id
            if len(replay) < 1000:
                break
        yield b": connected\n\n"
        while True:
            try:
                live = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if live is None:
                return
            if live.get("kind") == "progress":
                if progress:
                    yield _frame(live)
            elif live["id"] > last:
                last = live["id"]
                yield _frame(live)
    finally:
        engine.bus.unsubscribe(subscription)


@router.get("/events", response_class=StreamingResponse)
async def events(
    request: Request,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="replay events after this id")
    ] = None,
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_ID)] = None,
    progress: Annotated[
        bool, Query(description="also running runs' progress (event: progress, no id)")
    ] = False,
) -> StreamingResponse:
    """Server-sent events, one per run state change (``event: run``), and progress if asked."""
    engine = engine_of(request)
    start = after if after is not None else last_event_id
    return StreamingResponse(_stream(engine, start, progress), media_type="text/event-stream")
