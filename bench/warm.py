"""Cold run, cache hit, warm worker: what a job whose import and model load take ~1 s costs.

The job sleeps 0.5 s at import (its libraries) and 0.5 s in a cached loader
(its model). Each way is timed from just before the submit to the moment the
job's ``main`` is entered (the job returns ``time.time()`` taken there) and to
the moment ``evd wait`` has the result, beside ``python -c pass`` (an
interpreter's start). The issue's goals: a cache hit in <= 5 ms of daemon
time; a warm run entering ``main`` <= 20 ms after its submit.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evd.client import Client
from evd.models import SubmitRequest
from evd.paths import StateDir

SAMPLES = 15

JOB = """\
import functools
import os
import time

from evd import Job, Reuse

time.sleep(0.5)  # the imports of a job that uses heavy libraries
job = Job("{name}"{options})


@functools.cache
def model() -> dict:
    time.sleep(0.5)  # loading the model
    return {{"weight": 2}}


@job.main()
def main(x: int) -> dict:
    entered = time.time()
    return {{"entered": entered, "y": x * model()["weight"], "pid": os.getpid()}}
"""

KINDS = {
    "cold run": "",
    "cache hit": ", cache=True",
    "warm worker": ', reusable=Reuse(idle_ttl="10m")',
}


def ms(seconds: float) -> float:
    return seconds * 1000


def python_start_ms() -> float:
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return ms(statistics.median(times))


def measure(client: Client, request: SubmitRequest, same_args: bool) -> tuple[float, float, float]:
    """Median submit → main entered, submit → result, and the submit's round trip (ms)."""
    entered, done, trips = [], [], []
    for sample in range(SAMPLES):
        if not same_args:
            request.args = ["--x", str(sample + 1)]
        start_wall, start = time.time(), time.perf_counter()
        run = client.submit(request)
        trips.append(time.perf_counter() - start)
        client.wait(run.id, timeout=120)
        done.append(time.perf_counter() - start)
        value = client.result(run.id)
        if same_args:  # a hit: main is not entered at all
            continue
        entered.append(value["entered"] - start_wall)
    median = statistics.median
    return (
        ms(median(entered)) if entered else float("nan"),
        ms(median(done)),
        ms(median(trips)),
    )


def main() -> None:
    cache = os.environ.get("UV_CACHE_DIR") or str(Path(".cache/uv").resolve())
    with tempfile.TemporaryDirectory(prefix="evd-bench-warm-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "EVD_HOME": str(home), "UV_CACHE_DIR": cache, "DO_NOT_TRACK": "1"}
        evd = [sys.executable, "-m", "evd"]
        subprocess.run([*evd, "up", "--parallel", "2"], env=env, check=True, capture_output=True)
        results = {}
        try:
            client = Client(StateDir(home), timeout=600)
            for name, options in KINDS.items():
                job = Path(tmp) / f"{name.replace(' ', '_')}.py"
                job.write_text(JOB.format(name=name.replace(" ", "-"), options=options))
                request = SubmitRequest(file=str(job), cwd=tmp, args=["--x", "0"])
                client.wait(client.submit(request).id, timeout=600)  # build the env; fill
                results[name] = measure(client, request, same_args=name == "cache hit")
        finally:
            subprocess.run([*evd, "down"], env=env, check=False, capture_output=True)
    python = python_start_ms()
    lines = [
        f"a job with 0.5 s of imports and a 0.5 s model load; median of {SAMPLES}",
        f"  {'':12s} {'submit->main':>13s} {'submit->result':>15s} {'submit trip':>12s}",
    ]
    for name, (entered, done, trip) in results.items():
        main_text = "-" if math.isnan(entered) else f"{entered:8.1f} ms"  # a hit enters none
        lines.append(f"  {name:12s} {main_text:>13s} {done:12.1f} ms {trip:9.1f} ms")
    cold, warm = results["cold run"][1], results["warm worker"][1]
    lines += [
        f"  python -c pass {python:.1f} ms;"
        f" warm worker {cold / warm:.0f}x faster to a result than a cold run",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
