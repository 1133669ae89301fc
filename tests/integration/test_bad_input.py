"""Every kind of bad request gets a 4xx with a message, and the daemon keeps serving."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys

import pytest

from evd.models import RunState, SubmitRequest
from evd.sockets import reachable_path
from tests.conftest import Evd


def raw_request(
    evd: Evd,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, object]]:
    """Send exact bytes over the socket, so nothing client-side can tidy them up."""
    head = [f"{method} {path} HTTP/1.1", "Host: evd", "Connection: close"]
    for key, value in (headers or {}).items():
        head.append(f"{key}: {value}")
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    data = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
    with socket.socket(socket.AF_UNIX) as sock, reachable_path(evd.state.socket) as address:
        sock.connect(address)
        # The server may answer early (413) and close; its answer is still readable.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    response = b"".join(chunks)
    status = int(response.split(b" ", 2)[1])
    payload = response.split(b"\r\n\r\n", 1)[1]
    return status, json.loads(payload) if payload.strip() else {}


BAD_SUBMITS = [
    (b"{not json", 400, "not valid JSON"),
    (b'{"command": "echo hi"}', 422, "command"),
    (b'{"command": ["echo", 5]}', 422, "command.1"),
    (b'{"command": ["echo"], "priority": "high"}', 422, "priority"),
    (b"{}", 422, "either `command` or `file`"),
    (b'{"command": []}', 422, "the command is empty"),
    (json.dumps({"command": ["echo", "x" * (1024 * 1024)]}).encode(), 422, "per argument"),
    (json.dumps({"command": ["echo", *(["x" * 1000] * 1024)]}).encode(), 422, "command line is"),
    (b'{"command": ["echo", "\xff\xfe"]}', 400, "UTF-8 encoded JSON"),
    (b'{"command": ["echo", "\\udcff"]}', 422, "not valid UTF-8"),
    (b'{"command": ["true"], "cwd": "rel"}', 422, "absolute path"),
    (b'{"command": ["true"], "timeout": -1}', 422, "positive"),
    (b'{"file": "/nonexistent/job.py"}', 404, "job file not found"),
    (b"[1, 2, 3]", 422, "body"),
]


@pytest.mark.parametrize(
    ("body", "status", "message"), BAD_SUBMITS, ids=[str(i) for i in range(len(BAD_SUBMITS))]
)
def test_bad_submits_are_refused_with_a_message(
    evd: Evd, body: bytes, status: int, message: str
) -> None:
    got_status, payload = raw_request(evd, "POST", "/v1/runs", body)
    assert got_status == status, payload
    assert message in str(payload["error"])
    assert evd.client().health().accepting
    assert evd.client().list_runs() == []  # nothing half-made was stored


def test_oversized_body_is_refused(evd: Evd) -> None:
    status, payload = raw_request(evd, "POST", "/v1/runs", b"x" * (9 * 1024 * 1024))
    assert status == 413 and "limit" in str(payload["error"])


def test_unknown_ids_and_wrong_states(evd: Evd) -> None:
    assert raw_request(evd, "GET", "/v1/runs/424242")[0] == 404
    assert raw_request(evd, "GET", "/v1/runs/abc")[0] == 422
    status, payload = raw_request(evd, "GET", "/v2/nothing")
    assert status == 404 and "no such endpoint: GET /v2/nothing" in str(payload["error"])
    assert raw_request(evd, "POST", "/v1/runs/424242/cancel")[0] == 404
    assert raw_request(evd, "GET", "/v1/runs?state=exploded")[0] == 422
    with evd.client() as client:
        done = client.wait(client.submit(SubmitRequest(command=["true"], cwd="/")).id)
    status, payload = raw_request(evd, "POST", f"/v1/runs/{done.id}/cancel")
    assert status == 409 and "already succeeded" in str(payload["error"])
    assert evd.client().get_run(done.id).state is RunState.SUCCEEDED


def test_a_missing_program_fails_its_run_with_the_reason(evd: Evd) -> None:
    with evd.client() as client:
        run = client.wait(
            client.submit(SubmitRequest(command=["definitely-not-installed"], cwd="/")).id
        )
    assert run.state is RunState.FAILED
    assert run.reason == "program not found: definitely-not-installed"
    with evd.client() as client:
        blank = client.wait(client.submit(SubmitRequest(command=[" "], cwd="/")).id)
    assert blank.state is RunState.FAILED
    assert blank.reason == "the program name is empty: give a program to run"
    assert run.exit_code is None


def test_cli_refuses_non_utf8_arguments_clearly(evd: Evd) -> None:
    code = (
        "import sys, os; from evd.cli.main import main;"
        " sys.exit(main(['run', '--', 'echo', os.fsdecode(b'\\xff')]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=evd.env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "not valid UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_openapi_describes_the_api(evd: Evd) -> None:
    status, spec = raw_request(evd, "GET", "/openapi.json")
    assert status == 200
    paths = spec["paths"]
    assert isinstance(paths, dict)
    for path in (
        "/v1/runs",
        "/v1/runs/{run_id}",
        "/v1/runs/{run_id}/cancel",
        "/v1/runs/{run_id}/log",
        "/v1/events",
        "/v1/health",
    ):
        assert path in paths
