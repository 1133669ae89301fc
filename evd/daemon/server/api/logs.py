"""A run's log: read it, or follow it until the run ends."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from evd.daemon.engine import Engine
from evd.daemon.envs.builds import BUILD_LOG
from evd.daemon.server.api.common import MAX_ID, RunId, engine_of
from evd.runner.shim import LOG_FILE

router = APIRouter(prefix="/v1/runs", tags=["logs"])

CHUNK = 64 * 1024
# Polling backs off from 5 ms after fresh output to 100 ms when the job is quiet.
MIN_POLL, MAX_POLL = 0.005, 0.1


async def _follow(
    engine: Engine,
    path: Path,
    offset: int,
    follow: bool,
    active: Callable[[], bool],
) -> AsyncIterator[bytes]:
    delay = MIN_POLL
    handle = None
    try:
        while True:
            if handle is None:
                try:
                    handle = open(path, "rb")  # noqa: SIM115 - held across awaits
                    handle.seek(offset)
                except FileNotFoundError:
                    handle = None
            chunk = handle.read(CHUNK) if handle else b""
            if chunk:
                yield chunk
                delay = MIN_POLL
                continue
            if not follow or not engine.gate.accepting:
                return
            if not active():
                if handle is not None:
                    rest = handle.read()
                    if rest:
                        yield rest
                return
            if handle is not None and os.fstat(handle.fileno()).st_size < handle.tell():
                # The log was cut to its cap: carry on from the cut, where the tail now starts.
                handle.seek(engine.dispatch.log_limit // 2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_POLL)
    finally:
        if handle is not None:
            handle.close()


@router.get("/{run_id}/log", response_class=StreamingResponse)
async def log(
    request: Request,
    run_id: RunId,
    follow: bool = False,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    build: Annotated[bool, Query(description="the environment build's log instead")] = False,
) -> StreamingResponse:
    """The run's combined stdout and stderr, from ``offset``; with ``follow``, until it ends.

    With ``build``, uv's output from building the run's environment (followed
    while the run is ``building``).
    """
    engine = engine_of(request)
    engine.ledger.get(run_id)
    run_dir = engine.state.run_dir(run_id)
    if build:
        path = run_dir / BUILD_LOG

        def active() -> bool:
            return run_id in engine.builds.waiting
    else:
        path = run_dir / LOG_FILE

        def active() -> bool:
            return engine.is_active(run_id)

    return StreamingResponse(
        _follow(engine, path, offset, follow, active), media_type="text/plain; charset=utf-8"
    )
