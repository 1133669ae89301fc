"""Inputs staged, then taken from the cache; and what network = "none" adds to a start.

A 64 MiB URL input (from a local HTTP server, with its checksum declared) and a
64 MiB S3 object (moto's server) are staged by a first run, then by a second
run of the same spec, which finds both in evd's input cache. Printed: each
input's staging time as the run recorded it, and each run's submit → running.
Then the median submit → running of `true` with and without its own network
namespace.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evd.client import Client
from evd.models import SubmitRequest, parse_iso
from evd.paths import StateDir
from tests.dataservers import http_files, s3_client, s3_server

SIZE = 64 * 1024 * 1024
SAMPLES = 15


def ms(seconds: float) -> float:
    return seconds * 1000


def to_running(client: Client, request: SubmitRequest) -> tuple[float, Any]:
    """Submit → ``started_at`` (ms, by the daemon's clock) and the final run."""
    start = time.time()
    run = client.wait(client.submit(request).id, timeout=600)
    assert run.state.value == "succeeded", run.reason
    shown = client.get_run(run.id)
    assert shown.started_at is not None
    return ms(parse_iso(shown.started_at) - start), shown


def staging(client: Client, tmp: Path, env: dict[str, str]) -> list[str]:
    data = os.urandom(SIZE)
    lines = []
    with http_files() as files, s3_server(tmp) as endpoint:
        url = files.add("/data.bin", data)
        s3 = s3_client(endpoint)
        s3.make_bucket("bench")
        s3.put("bench", "data.bin", data)
        spec = tmp / "job.toml"
        spec.write_text(
            'command = ["true"]\n'
            f'[[inputs]]\nname = "web"\nurl = "{url}"\n'
            f'sha256 = "{hashlib.sha256(data).hexdigest()}"\n'
            f'[[inputs]]\nname = "bucket"\ns3 = "s3://bench/data.bin"\nendpoint = "{endpoint}"\n'
        )
        request = SubmitRequest(file=str(spec), cwd=str(tmp), env=env)
        for label in ("first run", "second run"):
            total, run = to_running(client, request)
            details = ", ".join(
                f"{item['name']} {ms(item['staged']['seconds']):.1f} ms"
                + (" (cache)" if item["staged"]["cached"] else "")
                for item in run.inputs
            )
            lines.append(f"  {label:10s} submit->running {total:8.1f} ms; staged: {details}")
    return lines


def network(client: Client, tmp: Path) -> list[str]:
    lines = []
    for label, text in (("host", ""), ("none", 'network = "none"\n')):
        spec = tmp / f"net-{label}.toml"
        spec.write_text('command = ["true"]\n' + text)
        request = SubmitRequest(file=str(spec), cwd=str(tmp))
        times = [to_running(client, request)[0] for _ in range(SAMPLES)]
        done = []
        for _ in range(SAMPLES):
            start = time.perf_counter()
            client.wait(client.submit(request).id, timeout=60)
            done.append(ms(time.perf_counter() - start))
        lines.append(
            f"  network={label:4s} submit->running {statistics.median(times):6.1f} ms,"
            f" submit->ended {statistics.median(done):6.1f} ms (median of {SAMPLES})"
        )
    return lines


def main() -> None:
    cache = os.environ.get("UV_CACHE_DIR") or str(Path(".cache/uv").resolve())
    with tempfile.TemporaryDirectory(prefix="evd-bench-staging-") as name:
        tmp = Path(name)
        home = tmp / "home"
        env = {**os.environ, "EVD_HOME": str(home), "UV_CACHE_DIR": cache, "DO_NOT_TRACK": "1"}
        evd = [sys.executable, "-m", "evd"]
        subprocess.run([*evd, "up"], env=env, check=True, capture_output=True)
        try:
            client = Client(StateDir(home), timeout=600)
            keys = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
            lines = [f"a {SIZE // 2**20} MiB URL input and a {SIZE // 2**20} MiB S3 object:"]
            lines += staging(client, tmp, {**env, **keys})
            lines += ["a run of `true`, with and without a network of its own:"]
            lines += network(client, tmp)
        finally:
            subprocess.run([*evd, "down"], env=env, check=False, capture_output=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
