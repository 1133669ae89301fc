"""A Daft pipeline under evd against the same pipeline run directly, and the progress hook's cost.

1. Wall time of ``bench/daft_pipeline.py`` submitted with ``evd run`` and
   awaited with ``evd wait`` (two CLI processes, the queue, the shim, the
   launcher, the progress hook), against ``python daft_pipeline.py`` in the
   same venv. Goal: evd adds under 5% + 100 ms.
2. The same pipeline run directly with evd's Daft hooks on (progress
   subscriber, thread sizing) and off. Goal: under 2%.

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


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds ``argv`` took; it must succeed."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


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
            direct, evd, on, off = [], [], [], []
            for _ in range(ROUNDS):
                direct.append(timed([python, str(PIPELINE)], plain))
                evd.append(under_evd(env))
                on.append(timed([python, str(PIPELINE)], hooked))
                off.append(timed([python, str(PIPELINE)], unhooked))
        finally:
            subprocess.run([*EVD, "down"], env=env, check=False, capture_output=True)
    d, e = statistics.median(direct), statistics.median(evd)
    h, u = statistics.median(on), statistics.median(off)
    budget = d * 1.05 + 0.1
    print(f"Daft pipeline (bench/daft_pipeline.py), median of {ROUNDS}")
    print(f"  direct in the same venv      {d:6.2f} s")
    print(f"  evd run + evd wait           {e:6.2f} s   +{(e - d) * 1000:5.0f} ms ({e / d - 1:+.1%})")
    print(f"      goal: under {budget:.2f} s (5% + 100 ms): {'met' if e <= budget else 'missed'}")
    print(f"  progress hook on / off       {h:6.2f} s / {u:.2f} s   {h / u - 1:+.1%}   goal < 2%")


if __name__ == "__main__":
    main()
