"""Volumes: named data folders jobs ask for (``env.volume("imagenet")``)."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request, Response

from evd.daemon.server.api.common import engine_of, json_response
from evd.errors import InvalidRequest, NotFound
from evd.models import VolumeInfo, VolumeRequest, iso
from evd.sdk.checks import DeclarationError, check_volume
from evd.store.records import VolumeRecord

router = APIRouter(prefix="/v1/volumes", tags=["volumes"])


def _view(volume: VolumeRecord) -> dict[str, object]:
    return {
        "name": volume.name,
        "path": volume.path,
        "created_at": iso(volume.created_at),
        "exists": os.path.exists(volume.path),
    }


@router.get("", response_model=list[VolumeInfo])
async def ls(request: Request) -> Response:
    """Every volume, by name."""
    engine = engine_of(request)
    return json_response([_view(v) for v in engine.store.list_volumes()])


@router.post("", status_code=201, response_model=VolumeInfo)
async def add(request: Request, body: VolumeRequest) -> Response:
    """Define (or redefine) a volume; its path must exist."""
    engine = engine_of(request)
    try:
        check_volume(body.name)
    except DeclarationError as error:
        raise InvalidRequest(str(error)) from None
    path = Path(body.path)
    if not path.is_absolute():
        raise InvalidRequest(f"give the volume's absolute path, not {body.path!r}")
    if not path.exists():
        raise NotFound(f"{path} does not exist; create it first, then add the volume")
    volume = VolumeRecord(body.name, str(path), engine.clock())
    engine.ledger.write(lambda store: store.put_volume(volume))
    engine.ledger.flush()
    return json_response(_view(volume), status_code=201)


@router.delete("/{name}")
async def rm(request: Request, name: str) -> Response:
    """Forget a volume (its data stays where it is)."""
    engine = engine_of(request)
    removed = engine.ledger.write(lambda store: store.delete_volume(name))
    engine.ledger.flush()
    if not removed:
        raise NotFound(f"no volume named {name!r}; `evd volumes ls` lists them")
    return json_response({"removed": name})
