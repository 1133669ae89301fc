"""The machine: CPUs, memory and GPUs as evd sees them (``evd gpus``)."""

from __future__ import annotations

import dataclasses
import itertools
import os
from typing import Annotated

import psutil
from fastapi import APIRouter, Query, Request, Response

from evd.daemon.server.api.common import engine_of, json_response
from evd.daemon.timelines import timeline as build_timeline
from evd.daemon.views import run_view, worker_view
from evd.models.timeline import Timeline

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
            if run_id > 0 and run_id in pool.held
        ]
        # Warm workers hold devices under their own (negative) ids, idle or serving.
        gpu["workers"] = [
            {
                "id": -holder,
                "name": worker.name if (worker := engine.workers.get(-holder)) else "",
                "share": pool.held[holder].share,
                "gpu_memory": pool.held[holder].gpu_memory,
            }
            for holder in sorted(device.holders, reverse=True)
            if holder < 0 and holder in pool.held
        ]
    data["workers"] = [worker_view(w) for w in sorted(engine.workers, key=lambda w: w.id)]
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
    unseen = sorted({p.pid for gpu in inventory.gpus for p in gpu.processes if not _here(p.pid)})
    if unseen and inventory.source == "nvml":
        # NVML gives the host's pids; in a container without the host's pid namespace
        # they are not this /proc's, and no GPU process can be told to be a run's.
        data["note"] = " ".join(filter(None, [data["note"], _other_pid_namespace(unseen)]))
    return json_response(data)


def _here(pid: int) -> bool:
    """Whether ``pid`` is a process of this pid namespace (NVML's may not fit a C int)."""
    return os.path.exists(f"/proc/{pid}")


def _other_pid_namespace(pids: list[int]) -> str:
    shown = ", ".join(map(str, pids[:5])) + (" ..." if len(pids) > 5 else "")
    return (
        f"NVML lists GPU processes that do not exist here (pid {shown}): evd runs in a"
        " container without the host's pid namespace, so it cannot tell its jobs' GPU memory"
        " from anyone else's and counts it all as used outside evd; start the container"
        " with the host's pid namespace (docker run --pid=host)"
    )


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
            head.append(run_view(engine.board, record, forecast=True).to_dict())
    return json_response({"length": len(engine.dispatch.queue), "head": head})


WEEK = 7 * 24 * 3600


@router.get("/timeline", response_model=Timeline)
async def timeline(
    request: Request,
    since: Annotated[
        float, Query(ge=60, le=WEEK, description="how many seconds back the window starts")
    ] = 6 * 3600,
) -> Response:
    """Who held each GPU, and the CPUs alone, over the window; the queued runs' planned starts.

    The window reaches ahead of now by a quarter of ``since``.
    """
    engine = engine_of(request)
    now = engine.ledger.clock()
    return json_response(build_timeline(engine.board, engine.inventory, now, since).to_dict())
