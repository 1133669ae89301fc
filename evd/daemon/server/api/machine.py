"""The machine: CPUs, memory and GPUs as evd sees them (``evd gpus``)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Annotated

import psutil
from fastapi import APIRouter, Query, Request, Response

from evd.daemon.server.api.common import engine_of, json_response
from evd.daemon.views import run_view

router = APIRouter(prefix="/v1", tags=["machine"])


@router.get("/gpus")
async def gpus(request: Request) -> Response:
    """The inventory as last sampled: memory, utilisation, processes, and the runs holding each.

    Also says how memory limits are enforced (``memory_limits``) and what is free.
    """
    engine = engine_of(request)
    inventory = engine.inventory
    latest = engine.usage.latest
    if latest is not None:  # the devices as last sampled, not as they were at start
        sampled = {gpu.index: gpu for gpu in latest.gpus}
        inventory = dataclasses.replace(
            inventory, gpus=tuple(sampled.get(g.index, g) for g in inventory.gpus)
        )
    data = inventory.to_dict()
    pool = engine.dispatch.pool
    for gpu in data["gpus"]:
        device = pool.devices.get(gpu["index"])
        if device is None:
            continue
        gpu["problem"] = device.problem
        gpu["memory_external"] = device.memory_external
        gpu["memory_claimed"] = device.memory_claimed
        gpu["runs"] = [
            {
                "id": run_id,
                "name": record.name if (record := engine.store.get_run(run_id)) else "",
                "share": pool.held[run_id].share,
                "gpu_memory": pool.held[run_id].gpu_memory,
            }
            for run_id in sorted(device.holders)
            if run_id in pool.held
        ]
    # The machine as a whole (not only evd's runs): since the last call, which the TUI
    # makes every few seconds; the first call after start reads 0.
    data["cpu_percent"] = psutil.cpu_percent(interval=None)
    data["memory_available"] = psutil.virtual_memory().available
    data["cpus_free"] = pool.cpus_free
    data["cpus_usable"] = pool.cpus
    data["memory_unreserved"] = pool.memory_free
    data["memory_limits"] = {
        "mechanism": engine.memory_limits.mechanism,
        "description": engine.memory_limits.description,
    }
    return json_response(data)


@router.get("/queue")
async def queue(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many from the head")] = 10,
) -> Response:
    """The queue in start order (priority, then age): its length and its head, with reasons."""
    engine = engine_of(request)
    head = []
    for queued in itertools.islice(engine.dispatch.queue, limit):
        record = engine.store.get_run(queued.id)
        if record is not None:
            head.append(run_view(engine.board, record).to_dict())
    return json_response({"length": len(engine.dispatch.queue), "head": head})
