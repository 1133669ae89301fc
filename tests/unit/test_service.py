"""`evd service install`: the unit it writes, with and without a systemd user manager."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from evd.cli.service import unit_text


def install(tmp_path: Path, path_variable: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": path_variable,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EVD_HOME": str(tmp_path / "home"),
    }
    return subprocess.run(
        [sys.executable, "-m", "evd", "service", "install"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_unit_runs_the_daemon_and_leaves_jobs_alone_when_stopped(tmp_path: Path) -> None:
    text = unit_text("/venv/bin/python", tmp_path, "/usr/bin")
    lines = text.splitlines()
    assert "ExecStart=/venv/bin/python -m evd daemon" in lines
    assert f"Environment=EVD_HOME={tmp_path}" in lines
    assert "KillMode=process" in lines  # jobs run on under their shims, as after `evd down`
    assert "Restart=on-failure" in lines and "WantedBy=default.target" in lines


def test_without_systemd_the_unit_is_written_and_the_user_is_told(tmp_path: Path) -> None:
    done = install(tmp_path, str(tmp_path / "empty-bin"))
    assert done.returncode == 1
    assert "systemd's user manager is not available here" in done.stderr
    unit = tmp_path / "config" / "systemd" / "user" / "evd.service"
    assert f"ExecStart={sys.executable} -m evd daemon" in unit.read_text()


def test_with_systemd_the_unit_is_enabled_and_started(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    done = install(tmp_path, f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    assert "enabled evd.service" in done.stdout
    assert calls.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now evd.service",
    ]
