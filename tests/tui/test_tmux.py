"""`evd tui` as a person runs it: in a real terminal (tmux), read off the screen, quit with q."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evd.models import SubmitRequest
from tests.conftest import Evd, wait_for


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run tmux on a server of its own (the person's own tmux is left alone)."""
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10, check=False
    )


def test_evd_tui_in_a_terminal_shows_runs_and_quits_on_q(evd: Evd, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for this test (apt-get install tmux)")
    socket = f"evd-test-{tmp_path.name}"
    with evd.client() as client:
        done = client.submit(
            SubmitRequest(command=["sh", "-c", "echo hi"], cwd="/", name="tmux-seen")
        )
        client.wait(done.id, timeout=30)
    env = " ".join(f"{key}={shlex.quote(value)}" for key, value in evd.env.items())
    command = f"env {env} {shlex.quote(sys.executable)} -m evd tui"
    started = tmux(socket, "new-session", "-d", "-s", "evd", "-x", "120", "-y", "30", command)
    assert started.returncode == 0, started.stderr

    def screen() -> str:
        return tmux(socket, "capture-pane", "-p", "-t", "evd").stdout

    try:
        expected = (
            "tmux-seen", "succeeded",  # the run, as the daemon has it
            f"pid {evd.daemon_pid()}",  # attached to this daemon
            "Runs [1]", "Resources [2]",  # the views
            "q Quit",  # the key bindings, in the footer
        )  # fmt: skip
        # A capture can land mid-repaint: read until one shows the whole screen.
        wait_for(lambda: all(part in text for text in [screen()] for part in expected), timeout=30)

        tmux(socket, "send-keys", "-t", "evd", "q")
        # The app exits, so its session ends with it.
        wait_for(lambda: tmux(socket, "has-session", "-t", "evd").returncode != 0, timeout=15)
    finally:
        tmux(socket, "kill-server")
        time.sleep(0.1)
