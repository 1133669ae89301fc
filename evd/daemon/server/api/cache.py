"""The result cache: list its entries, forget one, prune old ones (``evd cache``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from evd.daemon.server.api.common import engine_of, json_response
from evd.errors import InvalidRequest, NotFound
from evd.models import CachedResult, CachePruneRequest, PruneResult, iso

router = APIRouter(prefix="/v1/cache", tags=["cache"])


@router.get("", response_model=list[CachedResult])
async def ls(request: Request) -> Response:
    """Every cached result whose run still stands succeeded, newest first."""
    engine = engine_of(request)
    return json_response(
        [
            {
                "key": entry.key,
                "run_id": entry.run_id,
                "name": record.name,
                "created_at": iso(entry.created_at),
                "hits": entry.hits,
                "last_hit_at": iso(entry.last_hit_at),
            }
            for entry, record in engine.cache.entries()
        ]
    )


@router.delete("/{key}", response_model=PruneResult)
async def rm(request: Request, key: str) -> Response:
    """Forget one cached result (its run and files stay): the next identical run runs."""
    if not engine_of(request).cache.forget([key]):
        raise NotFound(f"no cached result with key {key!r}; `evd cache ls` lists them")
    return json_response({"removed": 1})


@router.post("/prune", response_model=PruneResult)
async def prune(request: Request, body: CachePruneRequest) -> Response:
    """Forget cached results made over ``older_than`` seconds ago and not used since."""
    if not body.older_than >= 0:
        raise InvalidRequest(f"older_than is a number of seconds, 0 or more, not {body.older_than}")
    return json_response({"removed": engine_of(request).cache.prune(body.older_than)})
