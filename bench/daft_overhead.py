"""A Daft pipeline under evd against the same pipeline run directly, and the progress hook's cost.

1. Wall time of ``bench/daft_pipeline.py`` submitted with ``evd run`` and
   awaited with ``evd wait`` (two CLI processes, the queue, the shim, the
   launcher, the progress hook), against ``python daft_pipeline.py`` in the
   same venv. Goal: evd adds under 5% + 100 ms.
2. The progress subscriber's cost: the time spent inside its ``on_event``
   (on Daft's threads, writing ``progress.json`` included) as a share of the
   pipeline's wall time, measured in the job's own process. Goal: under 2%.
   (An on/off comparison of whole runs is printed too, but on a 2-core VM its
   noise, several percent, is larger than the effect.)

Runs alternate so that drift on a busy machine hits both sides; medians of
``ROUNDS``. The first run builds the pipeline's environment (not timed).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "bench" / "daft_pipeline.py"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
EVD = [sys.executable, "-m", "evd"]


CRASHES: list[str] = []

# Runs the pipeline in-process with evd's subscriber attached and timed.
HOOK_COST = """
import json, runpy, sys, time
import daft
from daft.subscribers.abc import Subscriber
from evd.sdk.daft_hooks import progress_subscriber
subscriber = progress_subscriber(Subscriber)
spent = [0.0, 0]
handle = subscriber.on_event
def timed(event):
    start = time.perf_counter()
    handle(event)
    spent[0] += time.perf_counter() - start
    spent[1] += 1
subscriber.on_event = timed
daft.attach_subscriber("evd-timed", subscriber)
start = time.perf_counter()
runpy.run_path(sys.argv[1], run_name="__main__")
print(json.dumps({"spent": spent[0], "events": spent[1], "wall": time.perf_counter() - start}))
"""


def hook_cost(python: str, env: dict[str, str]) -> dict[str, float]:
    """The subscriber's time, its event count and the pipeline's wall time, in one run."""
    done = subprocess.run(
        [python, "-c", HOOK_COST, str(PIPELINE)], env=env, capture_output=True, text=True,
        cwd=ROOT, check=False,
    )  # fmt: skip
    line = next((x for x in done.stdout.splitlines() if x.startswith("{")), None)
    if line is None:
        raise SystemExit(f"the timed pipeline failed (exit {done.returncode}):\n{done.stderr}")
    measured: dict[str, float] = json.loads(line)
    return measured


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds ``argv`` took; it must finish its work (a crash at exit is counted, not fatal)."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        if "rounds of" not in done.stdout:
            raise SystemExit(f"the pipeline failed (exit {done.returncode}):\n{done.stderr}")
        CRASHES.append(f"exit {done.returncode} after the pipeline finished")
    return took


def under_evd(env: dict[str, str]) -> float:
    """Seconds from ``evd run`` to ``evd wait`` returning, as a person sees it."""
    start = time.perf_counter()
    run_id = subprocess.run(
        [*EVD, "run", "-q", "--cpus", str(os.cpu_count()), str(PIPELINE)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    subprocess.run([*EVD, "wait", "-q", run_id], env=env, check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    """Print both comparisons."""
    with tempfile.TemporaryDirectory(prefix="evd-bench-daft-") as tmp:
        env = {**os.environ, "EVD_HOME": str(Path(tmp) / "home")}
        env.setdefault("UV_CACHE_DIR", str(ROOT / ".cache" / "uv"))
        subprocess.run([*EVD, "up"], env=env, check=True, capture_output=True)
        try:
            first = subprocess.run(
                [*EVD, "run", "-q", str(PIPELINE)], env=env, check=True, capture_output=True,
                text=True, cwd=ROOT,
            ).stdout.strip()  # fmt: skip
            subprocess.run([*EVD, "wait", "-q", first], env=env, check=True)
            shown = json.loads(
                subprocess.run(
                    [*EVD, "show", "--json", first], env=env, check=True, capture_output=True
                ).stdout
            )
            python = str(Path(env["EVD_HOME"]) / "envs" / shown["env_hash"] / "bin" / "python")
            plain = {k: v for k, v in env.items() if not k.startswith("EVD_")}
            plain.update(DO_NOT_TRACK="1", DAFT_RUNNER="native")
            hooked = {**plain, "EVD_RUN_DIR": tmp, "EVD_CPUS": str(os.cpu_count())}
            unhooked = {**hooked, "EVD_HOOKS": "off"}
            direct, evd, on, off, costs = [], [], [], [], []
            for _ in range(ROUNDS):
                direct.append(timed([python, str(PIPELINE)], plain))
                evd.append(under_evd(env))
                on.append(timed([python, str(PIPELINE)], hooked))
                off.append(timed([python, str(PIPELINE)], unhooked))
                costs.append(hook_cost(python, unhooked))
        finally:
            subprocess.run([*EVD, "down"], env=env, check=False, capture_output=True)
    d, e = statistics.median(direct), statistics.median(evd)
    h, u = statistics.median(on), statistics.median(off)
    budget = d * 1.05 + 0.1
    print(f"Daft pipeline (bench/daft_pipeline.py), median of {ROUNDS}")
    print(f"  direct in the same venv      {d:6.2f} s")
    print(
        f"  evd run + evd wait           {e:6.2f} s   +{(e - d) * 1000:5.0f} ms ({e / d - 1:+.1%})"
    )
    print(f"      goal: under {budget:.2f} s (5% + 100 ms): {'met' if e <= budget else 'missed'}")
    share = statistics.median(c["spent"] / c["wall"] for c in costs)
    events = statistics.median(c["events"] for c in costs)
    spent = statistics.median(c["spent"] for c in costs) * 1000
    print(f"  progress subscriber          {spent:6.1f} ms in {events:.0f} events:"
          f" {share:.2%} of the pipeline   goal < 2%")  # fmt: skip
    print(f"  whole runs, hooks on / off   {h:6.2f} s / {u:.2f} s   {h / u - 1:+.1%} (noise)")
    if CRASHES:
        print(f"  direct runs that crashed at exit (Daft): {len(CRASHES)}: {'; '.join(CRASHES)}")


if __name__ == "__main__":
    main()
