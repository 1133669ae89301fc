"""The HTTP trigger: off by default, token required, browsers and foreign hosts refused."""

from __future__ import annotations

import http.client
import json
import socket
import stat

import pytest

from evd.daemon.server.httpgate import ListenError, parse_listen
from tests.conftest import Evd
from tests.helpers import free_port


def call(
    port: int, method: str, path: str, headers: dict[str, str], body: object = None
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = None if body is None else json.dumps(body)
        sent = {**headers, **({"Content-Type": "application/json"} if data else {})}
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture
def http_evd(evd_env: Evd) -> tuple[Evd, int, str]:
    port = free_port()
    up = evd_env.cli("up", "--kill-grace", "1", "--http", str(port), check=True)
    assert f"HTTP trigger on 127.0.0.1:{port}" in up.stdout
    token = (evd_env.home / "http-token").read_text().strip()
    return evd_env, port, token


def test_every_request_needs_the_token_and_no_browser_or_foreign_host_gets_in(
    http_evd: tuple[Evd, int, str],
) -> None:
    evd, port, token = http_evd
    assert stat.S_IMODE((evd.home / "http-token").stat().st_mode) == 0o600
    good = {"Authorization": f"Bearer {token}"}
    assert call(port, "GET", "/v1/health", {})[0] == 401
    assert call(port, "GET", "/v1/health", {"Authorization": "Bearer nope"})[0] == 401
    assert call(port, "GET", "/v1/health", {"Authorization": token})[0] == 401  # no scheme
    status, body = call(port, "GET", "/v1/runs", {**good, "Origin": "https://example.com"})
    assert status == 403 and "Origin" in str(body["error"])
    status, body = call(port, "GET", "/v1/runs", {**good, "Host": f"rebind.example:{port}"})
    assert status == 403 and "rebind.example" in str(body["error"])
    status, body = call(port, "GET", "/v1/health", good)
    assert status == 200 and body["http"] == f"127.0.0.1:{port}"
    # Refused requests never reached the API: nothing was submitted.
    assert call(port, "POST", "/v1/runs", {}, {"command": ["true"], "cwd": "/"})[0] == 401
    assert json.loads(evd.cli("ps", "--all", "--json").stdout) == []


def test_a_named_job_starts_with_one_post(http_evd: tuple[Evd, int, str]) -> None:
    evd, port, token = http_evd
    good = {"Authorization": f"Bearer {token}"}
    first = evd.cli("run", "-q", "--name", "greet", "--", "echo", "hello", check=True)
    evd.cli("wait", first.stdout.strip(), check=True)
    status, run = call(port, "POST", "/v1/jobs/greet/run", good)
    assert status == 201 and run["name"] == "greet"
    status, other = call(port, "POST", "/v1/jobs/greet/run", good, {"args": ["again"]})
    assert status == 201
    for run_id in (run["id"], other["id"]):
        assert evd.cli("wait", str(run_id)).returncode == 0
    assert evd.cli("logs", str(other["id"])).stdout == "again\n"
    assert evd.cli("logs", str(run["id"])).stdout == "hello\n"
    status, body = call(port, "POST", "/v1/jobs/missing/run", good)
    assert status == 404 and "run it once" in str(body["error"])


def test_the_listener_is_off_by_default_and_a_taken_port_is_said(evd_env: Evd) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = evd_env.cli("up", "--http", str(port))
        assert up.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in up.stderr
    evd_env.cli("up", check=True)
    health = evd_env.client().health()
    assert health.http is None


def test_listen_addresses_are_read_loopback_first() -> None:
    assert str(parse_listen("8765")) == "127.0.0.1:8765"
    assert str(parse_listen("0.0.0.0:80")) == "0.0.0.0:80"
    assert str(parse_listen("[::1]:8765")) == "[::1]:8765"
    for bad in ("", "http", "99999", "example.com:80", "1.2.3.4:"):
        with pytest.raises(ListenError):
            parse_listen(bad)
