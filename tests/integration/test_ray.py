"""The same job file locally and on a Ray cluster (``evd run --cluster``), with the same result.

A real ``ray start --head`` on loopback, from a venv of its own with the Ray
that evd puts in the job's env (unpinned in both, so the same version). Marked
``ray``: ``pytest -m 'not ray'`` leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Evd
from tests.helpers import free_port

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "daft_sales.py"
UV = str(Path(sys.executable).parent / "uv")


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[str]:
    """A one-node Ray cluster on loopback; yields its address."""
    venv = tmp_path / "ray-venv"
    subprocess.run([UV, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    subprocess.run(
        [UV, "pip", "install", "-q", "-p", str(venv / "bin" / "python"), "ray"], check=True
    )
    ray = str(venv / "bin" / "ray")
    # Ray's socket paths must stay short (107 bytes): not under pytest's deep tmp_path.
    ray_tmp = tempfile.mkdtemp(prefix="evdray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": ray_tmp}
    port = free_port()
    subprocess.run(
        [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
        env=env, check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, check=False)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def run_sales(evd: Evd, *flags: str) -> dict[str, object]:
    run_id = evd.cli(
        "run", "-q", *flags, str(EXAMPLE), "--orders", "20000", check=True
    ).stdout.strip()
    waited = evd.cli("wait", run_id, timeout=400)
    log = evd.cli("logs", run_id).stdout
    assert waited.returncode == 0, log
    result: dict[str, object] = json.loads(evd.cli("result", run_id, check=True).stdout)
    shown = json.loads(evd.cli("show", "--json", run_id, check=True).stdout)
    return {"result": result, "log": log, "run": shown}


def test_a_job_gives_the_same_result_on_a_ray_cluster_as_here(evd: Evd, ray_head: str) -> None:
    local = run_sales(evd)
    remote = run_sales(evd, "--cluster", ray_head)
    assert remote["result"] == local["result"]
    run = remote["run"]
    assert isinstance(run, dict)
    assert run["state"] == "succeeded" and run["gpus"] == []
    assert "ray" in run["settings"]["dependencies"]
    assert run["settings"]["environ"]["DAFT_RUNNER"] == "ray"
    # Ray ran it: the driver joined the cluster (Ray's and Daft's lines come back in the log).
    assert "Connected to Ray cluster" in str(remote["log"])
    assert "reuse the existing Ray context" in str(remote["log"])  # Daft ran on evd's session
