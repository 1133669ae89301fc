"""The fast lane answers a submit exactly as the FastAPI route does.

The same app answers a body sent with its length (the lane takes it) and the
same body sent chunked, without a length (the lane hands it to FastAPI): the
engine must be given equal requests, field types included (``1`` is not
``1.0`` once it is kept as JSON), and the client must get equal answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict
from typing import Any, cast

import pytest
from hypothesis import assume, given, settings
from pydantic import TypeAdapter

from evd.daemon.server.api import fastlane
from evd.daemon.server.api import runs as runs_api
from evd.daemon.server.api.schemacheck import compile_schema
from evd.daemon.server.app import create_app
from evd.errors import Conflict, EvdError
from evd.models import SubmitRequest
from tests.unit.test_schemacheck import bodies, body_schemas

SUBMIT = "post /v1/runs"


def as_json(request: SubmitRequest) -> str:
    """The request as it would be kept: types tell, so ``1`` and ``1.0`` differ."""
    return json.dumps(asdict(request), sort_keys=True)


@settings(max_examples=1500, deadline=None)
@given(body=bodies(SUBMIT))
def test_the_lane_builds_the_request_pydantic_builds(body: Any) -> None:
    assume(isinstance(body, dict) and compile_schema(body_schemas()[SUBMIT])(body))
    try:
        ours = fastlane.submit_request(body)
    except fastlane.NotPlain:  # left to pydantic: the lane hands the body to FastAPI
        return
    theirs = TypeAdapter(SubmitRequest).validate_python(body)
    assert as_json(ours) == as_json(theirs)


class Recorder:
    """An engine that keeps each request it is given and answers as it is told."""

    board = None

    def __init__(self, raises: Exception | None = None) -> None:
        self.requests: list[SubmitRequest] = []
        self.raises = raises

    async def submit(self, request: SubmitRequest, *, also: object = None) -> SubmitRequest:
        self.requests.append(request)
        if self.raises is not None:
            raise self.raises
        return request


class View:
    """Stands in for ``run_view``: the run as the request it came from (same in both ways)."""

    def __init__(self, _board: object, record: SubmitRequest, **_: object) -> None:
        self.record = record

    def to_dict(self) -> dict[str, Any]:
        return {"id": 1, "request": asdict(self.record)}


def post(app: Any, body: bytes, *, with_length: bool) -> tuple[int, dict[bytes, bytes], bytes]:
    """POST /v1/runs through the ASGI app: status, headers and body of the answer."""
    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    if with_length:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/runs", "raw_path": b"/v1/runs", "query_string": b"",
        "root_path": "", "headers": headers, "client": None, "server": None,
    }  # fmt: skip
    # Chunked: the body comes in two messages, as a server gives it.
    chunks = [body] if with_length else [body[:5], body[5:]]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # Starlette raises a fault again once it has answered it (for the server's log).
    with contextlib.suppress(RuntimeError):
        asyncio.run(app(scope, receive, send))
    start, *rest = sent
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in rest)


@pytest.fixture
def view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs_api, "run_view", View)
    monkeypatch.setattr(fastlane, "run_view", View)


BODIES = [
    {"command": ["true"], "cwd": "/"},
    {"command": ["sleep", "1"], "cwd": "/tmp", "timeout": 5, "cpus": 1, "gpus": 0.5},
    {"command": ["x"], "cwd": "/", "priority": 3, "after": [1, 2], "queue_timeout": 2**60},
    {"command": ["x"], "cwd": "/", "after": [1, 2.0], "memory": 1024.0},  # FastAPI's to judge
    {"file": "/tmp/job.py", "function": "main", "args": ["a"], "env": {"A": "b"}, "x": 1},
    {"command": ["true"], "cwd": "/", "retries": 2, "restart": "no", "keep_children": True},
]


@pytest.mark.usefixtures("view")
@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_a_submit_is_answered_alike_in_the_lane_and_through_fastapi(body: dict[str, Any]) -> None:
    engine = Recorder()
    app = create_app(cast(Any, engine))
    raw = json.dumps(body).encode()
    lane = post(app, raw, with_length=True)
    route = post(app, raw, with_length=False)
    assert lane[0] == 201
    assert lane == route
    ours, theirs = engine.requests
    assert as_json(ours) == as_json(theirs)


@pytest.mark.usefixtures("view")
@pytest.mark.parametrize("error", [Conflict("no: it conflicts"), RuntimeError("a fault")])
def test_an_error_of_the_engine_is_answered_alike(error: Exception) -> None:
    app = create_app(cast(Any, Recorder(raises=error)))
    raw = json.dumps(BODIES[0]).encode()
    lane = post(app, raw, with_length=True)
    assert lane == post(app, raw, with_length=False)
    status = error.http_status if isinstance(error, EvdError) else 500
    assert lane[0] == status
    assert str(error) in json.loads(lane[2])["error"]


@pytest.mark.usefixtures("view")
@pytest.mark.parametrize(
    "raw",
    [b'{"command": []}', b'{"command": ["true"], "priority": "1"}', b"{not json", b"[1]"],
)
def test_a_body_the_lane_refuses_gets_fastapis_answer(raw: bytes) -> None:
    engine = Recorder()
    app = create_app(cast(Any, engine))
    lane = post(app, raw, with_length=True)
    assert lane == post(app, raw, with_length=False)
    assert lane[0] in (400, 422)
    assert engine.requests == []
