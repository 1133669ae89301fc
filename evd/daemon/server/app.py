"""The ASGI app: routes, and the mapping of every error to a clear JSON answer."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evd import __version__
from evd.daemon.engine import Engine
from evd.daemon.server.api import (
    bodycheck,
    cache,
    contract,
    envs,
    events,
    groups,
    logs,
    machine,
    runs,
    schedules,
    system,
    volumes,
    watches,
    workers,
)
from evd.daemon.server.api.common import error_response, internal_error_response, json_response
from evd.daemon.server.api.fastlane import FastLane
from evd.errors import EvdError

log = logging.getLogger("evd.api")

MAX_BODY = 8 * 1024 * 1024


class BodyTooLarge(Exception):
    """A request body went past ``MAX_BODY``."""


class LimitBody:
    """Refuse request bodies over ``MAX_BODY`` before anything parses them."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, counting the body's bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
                response = json_response(
                    {"error": f"the request body is {int(value)} bytes; the limit is {MAX_BODY}"},
                    status_code=413,
                )
                await response(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise BodyTooLarge(f"the request body is over the {MAX_BODY}-byte limit")
            return message

        await self.app(scope, counted, send)


def _describe(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        if error.get("type") == "json_invalid":
            return "the request body is not valid JSON: " + str(
                error.get("ctx", {}).get("error", "")
            )
        parts.append(f"{where or 'body'}: {error.get('msg')}")
    return "; ".join(parts)


def _methods(app: FastAPI, path: str) -> list[str]:
    """The methods some route of ``app`` answers on ``path`` (for ``Allow``)."""
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path_regex.fullmatch(path):
            methods |= route.methods or set()
    return sorted(methods)


def create_app(engine: Engine) -> FastAPI:
    """Build the API around ``engine``."""
    check = bodycheck.BodyCheck(lambda: app.openapi())  # noqa: PLW0108 - app is made below
    app = FastAPI(
        title="evd",
        version=__version__,
        summary="A job runner for one GPU workstation.",
        # Before FastAPI reads a body into its dataclass: the document's schema for it.
        dependencies=[Depends(check)],
    )
    app.state.engine = engine
    app.state.started_at = time.time()
    for module in (
        runs, groups, logs, events, system, envs, volumes, machine, watches, schedules, cache,
        workers,
    ):  # fmt: skip
        app.include_router(module.router)
    app.include_router(runs.jobs)

    @app.exception_handler(EvdError)
    async def evd_error(_request: Request, error: EvdError) -> Response:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> Response:
        errors = list(error.errors())
        status = 400 if any(e.get("type") == "json_invalid" for e in errors) else 422
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]
        return json_response({"error": _describe(errors), "detail": detail}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = str(error.detail)
        if error.status_code == 400:
            message = "the request body could not be read: send UTF-8 encoded JSON"
        elif error.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path} (see /openapi.json)"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path} (see /openapi.json)"
        headers = dict(error.headers or {})
        if error.status_code == 405:  # every method of the path, not those of one route
            headers["Allow"] = ", ".join(_methods(app, request.url.path))
        return json_response({"error": message}, status_code=error.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def internal(_request: Request, error: Exception) -> Response:
        log.exception("internal error")
        return internal_error_response(error)

    app.add_middleware(FastLane, engine=engine, bodycheck=check)
    app.add_middleware(LimitBody)  # outside the lane: it limits every body

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract.document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
