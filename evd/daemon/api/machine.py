"""The machine: CPUs, memory and GPUs as evd sees them (``evd gpus``)."""

from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, Request, Response

from evd.daemon.api.common import engine_of, json_response
from evd.resources.inventory import discover

router = APIRouter(prefix="/v1", tags=["machine"])


@router.get("/gpus")
async def gpus(request: Request) -> Response:
    """The inventory, read now (NVML's memory, utilisation and processes change)."""
    engine_of(request)
    inventory = await asyncio.to_thread(discover, os.environ)
    return json_response(inventory.to_dict())
