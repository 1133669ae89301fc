"""The fast lane: a plainly good submit answered without FastAPI's routing and dependencies.

``POST /v1/runs`` is what every ``evd run``, ``job.map`` caller and script
loop sends. Measured on the reference machine, FastAPI took ~0.4 ms of a
submit's ~2.5 ms in the daemon between the body's arrival and the handler
(routing past fifty routes, solving dependencies, reading the body a second
time, pydantic building the dataclass), about as much as storing the run.

The lane takes a submit only when its body is plainly good: a declared
length, a JSON object, and passing the API document's own schema (the check
``BodyCheck`` compiled for it). It builds the ``SubmitRequest`` as pydantic
would (an integer made ``float`` where the field is one; keys the request
does not have are ignored; a number pydantic would have to judge, such as
``2.0`` for an integer, leaves the body to it) and answers with the route's own code: the same
engine call, view and encoder, and evd's errors in the app's words. Anything
else (bad JSON, a body the schema refuses, no length) goes on to FastAPI with
its body replayed, so every refusal is worded by the one place that words it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import typing
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evd.daemon.engine import Engine
from evd.daemon.server.api.bodycheck import BodyCheck
from evd.daemon.server.api.common import error_response, internal_error_response, json_response
from evd.daemon.views import run_view
from evd.errors import EvdError
from evd.models import SubmitRequest

log = logging.getLogger("evd.api")

SUBMIT_PATH = "/v1/runs"
LANE_LIMIT = 1024 * 1024  # a submit body longer than this takes the ordinary way


class NotPlain(Exception):
    """A value pydantic would have to convert in a way the lane leaves to it."""


EXACT = 2**53  # the integers a float holds exactly


def _as_float(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > EXACT:
            raise NotPlain
        return float(value)
    return value


def _as_int(value: Any) -> Any:
    if isinstance(value, float):
        raise NotPlain  # 2.0 is an integer to the schema; pydantic has its own rules for it
    return value


def _as_ints(value: Any) -> Any:
    return [_as_int(item) for item in value]


def _converter(kind: Any) -> Callable[[Any], Any] | None:
    """How a schema-valid JSON value becomes the field's type, as pydantic's lax mode does."""
    args = set(typing.get_args(kind)) - {type(None)}
    if float in args or kind is float:
        return _as_float
    if int in args or kind is int:
        return _as_int
    if typing.get_origin(kind) is list and typing.get_args(kind) == (int,):
        return _as_ints
    return None


_HINTS = typing.get_type_hints(SubmitRequest)
_FIELDS = {
    field.name: _converter(_HINTS[field.name]) for field in dataclasses.fields(SubmitRequest)
}


def submit_request(body: dict[str, Any]) -> SubmitRequest:
    """The request FastAPI would build from ``body`` (one the schema allows).

    ``NotPlain`` when a number would need a conversion the lane leaves to pydantic.
    """
    fields = {}
    for name, value in body.items():
        if name not in _FIELDS:
            continue  # pydantic ignores keys a dataclass does not have
        convert = _FIELDS[name]
        fields[name] = convert(value) if convert is not None and value is not None else value
    return SubmitRequest(**fields)


class FastLane:
    """ASGI middleware: answers a plainly good ``POST /v1/runs`` itself."""

    def __init__(self, app: ASGIApp, engine: Engine, bodycheck: BodyCheck) -> None:
        """Pass everything else to ``app``; check bodies with ``bodycheck``'s compiled schema."""
        self.app = app
        self.engine = engine
        self.bodycheck = bodycheck

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a submit in the lane, or hand the request on unchanged."""
        if (
            scope["type"] != "http"
            or scope["path"] != SUBMIT_PATH
            or scope["method"] != "POST"
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is None or length > LANE_LIMIT:
            await self.app(scope, receive, send)
            return
        raw, messages = await _read_body(receive)
        request = self._plainly_good(raw)
        if request is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        try:
            record = await self.engine.submit(request)
            response = json_response(run_view(self.engine.board, record).to_dict(), 201)
        except EvdError as error:
            response = error_response(error)
        except Exception as error:
            log.exception("internal error")
            response = internal_error_response(error)
        await response(scope, receive, send)

    def _plainly_good(self, raw: bytes | None) -> SubmitRequest | None:
        """The request in ``raw``, if the lane may take it."""
        if raw is None:
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(body, dict) or not self.bodycheck.allows("post", SUBMIT_PATH, body):
            return None
        try:
            return submit_request(body)
        except NotPlain:
            return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The whole body (``None`` if the client went away first) and the messages it came in."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` again, then reads on."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
