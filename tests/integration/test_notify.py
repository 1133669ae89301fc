"""Notifications when a run ends: a command, a webhook, a desktop note; failures harmless."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from evd.daemon.triggers.notify import read_settings
from evd.models import RunState
from tests.conftest import Evd, wait_for


def configure(evd: Evd, text: str) -> None:
    evd.home.mkdir(parents=True, exist_ok=True)
    (evd.home / "config.toml").write_text(text)


def executable(path: Path, text: str) -> Path:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return path


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A loopback HTTP server that keeps every JSON body POSTed to it."""
    received: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()


def test_a_run_end_calls_the_command_the_webhook_and_the_desktop(
    evd_env: Evd, tmp_path: Path, webhook: tuple[str, list[dict[str, object]]]
) -> None:
    url, posted = webhook
    seen = tmp_path / "seen.jsonl"
    hook = executable(
        tmp_path / "hook", f'cat >> {seen}; echo >> {seen}; echo "$EVD_RUN_STATE" >> {seen}\n'
    )
    desktop = tmp_path / "desktop"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "notify-send", f'echo "$@" >> {desktop}\n')
    evd_env.env["PATH"] = f"{bin_dir}:{evd_env.env['PATH']}"
    configure(
        evd_env,
        f'[notify]\ncommand = "{hook}"\nwebhook = "{url}"\ndesktop = true\n'
        'on = ["failed", "succeeded"]\n',
    )
    evd_env.up()
    failing = evd_env.cli("run", "-q", "--", "sh", "-c", "exit 3", check=True).stdout.strip()
    evd_env.cli("wait", failing)
    wait_for(lambda: seen.exists() and len(seen.read_text().splitlines()) >= 2, timeout=10)
    run_json, state = seen.read_text().splitlines()[:2]
    run = json.loads(run_json)
    assert (run["id"], run["state"], run["exit_code"], state) == (
        int(failing),
        "failed",
        3,
        "failed",
    )
    wait_for(lambda: len(posted) == 1, timeout=10)
    assert posted[0]["id"] == int(failing) and posted[0]["state"] == "failed"
    wait_for(desktop.exists, timeout=10)
    assert f"evd: run {failing} (sh) failed" in desktop.read_text()
    cancelled = evd_env.cli("run", "-q", "--", "sleep", "30", check=True).stdout.strip()
    evd_env.cli("cancel", cancelled, check=True)
    succeeded = evd_env.cli("run", "-q", "--", "true", check=True).stdout.strip()
    evd_env.cli("wait", succeeded)
    wait_for(lambda: len(posted) == 2, timeout=10)
    assert [p["id"] for p in posted] == [int(failing), int(succeeded)]  # not the cancelled one


def test_failing_hooks_are_logged_and_harm_nothing(evd_env: Evd, tmp_path: Path) -> None:
    hook = executable(tmp_path / "hook", "echo broken hook >&2; exit 9\n")
    configure(
        evd_env,
        f'[notify]\ncommand = "{hook}"\nwebhook = "http://127.0.0.1:9/nothing-listens"\n',
    )
    evd_env.up()
    for _ in range(2):
        run_id = evd_env.cli("run", "-q", "--", "true", check=True).stdout.strip()
        assert evd_env.cli("wait", run_id).returncode == 0
    log = evd_env.state.log_file

    def logged() -> bool:
        text = log.read_text()
        return "exited 9: broken hook" in text and "Connection refused" in text

    wait_for(logged, timeout=15)
    assert evd_env.client().health().accepting


def test_bad_notify_settings_stop_the_daemon_with_the_reason(evd_env: Evd) -> None:
    configure(evd_env, '[notify]\non = ["running"]\n')
    up = evd_env.cli("up")
    assert up.returncode == 1 and "only end states" in up.stderr


def test_notify_settings_default_to_every_end() -> None:
    settings = read_settings({"command": "~/hook --flag"})
    assert settings.on == frozenset(s for s in RunState if s.is_final)
    assert settings.command[0].endswith("/hook") and settings.command[1] == "--flag"
    with pytest.raises(ValueError, match="webhook"):
        read_settings({"webhook": "ftp://x"})
    with pytest.raises(ValueError, match="unknown key"):
        read_settings({"email": "me@example.com"})
