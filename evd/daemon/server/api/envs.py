"""Environments: list, build ahead of time, prune."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from evd.daemon.server.api.common import CONFLICT, engine_of, json_response
from evd.daemon.server.envadmin import build_env, list_envs, prune_envs
from evd.errors import InvalidRequest
from evd.models import EnvBuildRequest, EnvInfo, EnvPruneRequest

router = APIRouter(prefix="/v1/envs", tags=["environments"])


@router.get("", response_model=list[EnvInfo])
async def ls(request: Request) -> Response:
    """Built environments with their size, last use and users."""
    engine = engine_of(request)
    return json_response([env.__dict__ for env in list_envs(engine)])


@router.post("/build", response_model=EnvInfo, responses=CONFLICT)
async def build(request: Request, body: EnvBuildRequest) -> Response:
    """Build the environment a job file (or a named env) needs; answers when it is ready."""
    engine = engine_of(request)
    return json_response((await build_env(engine, body)).__dict__)


@router.post("/prune")
async def prune(request: Request, body: EnvPruneRequest) -> Response:
    """Remove environments no queued, building or running run needs."""
    engine = engine_of(request)
    if not body.older_than >= 0:
        raise InvalidRequest(f"older_than is a number of seconds, 0 or more, not {body.older_than}")
    return json_response({"removed": await prune_envs(engine, body.older_than)})
