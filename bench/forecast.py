"""How good the forecast start is, and what preemption saves an urgent run.

1. ETA error: a workload of three kinds of jobs (sleeps of about 0.6, 1.2 and
   2.4 s, each run drawn within +-25 %: the same kind never takes quite the same
   time) runs three times each to make history, then twelve more are submitted
   at once onto two slots. Each waiting run's forecast start (as `evd show` gives it right
   after its submit) is compared with when it really started: the median
   absolute error relative to its real wait (goal <= 20 %).
2. Preemption: one GPU held by a 20 s job; an urgent run (priority 10) asks for
   it. Its wait when the holder is preemptible (SIGTERM, requeued) against
   when it is not (it waits for the holder to end).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evd.client import Client
from evd.models import RunState, SubmitRequest, parse_iso
from evd.paths import StateDir

KINDS = (0.6, 1.2, 2.4)
ROUNDS = 4  # twelve runs
HISTORY_RUNS = 3
JITTER = 0.25
RNG = random.Random(22)


def daemon(tmp: Path, name: str, *, parallel: int | None, gpus: str | None) -> tuple[Client, dict]:
    home = tmp / name
    home.mkdir()
    (home / "config.toml").write_text("[resources]\nmin_run_time = 0\n")
    env = {**os.environ, "EVD_HOME": str(home), "DO_NOT_TRACK": "1"}
    if gpus:
        env["EVD_FAKE_GPUS"] = gpus
    words = ["up", "--kill-grace", "1"] + (["--parallel", str(parallel)] if parallel else [])
    subprocess.run([sys.executable, "-m", "evd", *words], env=env, check=True, capture_output=True)
    return Client(StateDir(home), timeout=120), env


def down(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "evd", "down"], env=env, check=False, capture_output=True)


def sleep(seconds: float, **more: object) -> SubmitRequest:
    return SubmitRequest(command=["sleep", str(seconds)], cwd="/", **more)  # type: ignore[arg-type]


def kind(seconds: float) -> SubmitRequest:
    """A run of the kind ``seconds`` (one command, so alike), lasting about that long."""
    drawn = seconds * RNG.uniform(1 - JITTER, 1 + JITTER)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TAKES": f"{drawn:.3f}"}
    command = ["sh", "-c", 'sleep "$TAKES"', f"kind-{seconds}"]
    return SubmitRequest(command=command, cwd="/", env=env)


def eta_error(tmp: Path) -> list[str]:
    client, env = daemon(tmp, "eta", parallel=2, gpus=None)
    try:
        for _ in range(HISTORY_RUNS):
            for seconds in KINDS:  # history
                client.wait(client.submit(kind(seconds)).id, timeout=60)
        forecasts: dict[int, float] = {}
        submitted: dict[int, float] = {}
        for _ in range(ROUNDS):
            for seconds in KINDS:
                run = client.submit(kind(seconds))
                submitted[run.id] = time.time()
                shown = client.get_run(run.id)
                if shown.state is RunState.QUEUED and shown.expected_start:
                    forecasts[run.id] = parse_iso(shown.expected_start)
        errors = []
        for run_id, predicted in forecasts.items():
            run = client.wait(run_id, timeout=120)
            assert run.started_at is not None
            actual = parse_iso(run.started_at)
            wait = max(actual - submitted[run_id], 0.05)
            errors.append(abs(predicted - actual) / wait)
    finally:
        down(env)
    return [
        f"ETA error over {len(errors)} waiting runs (two slots, about {KINDS} s +-25 %):"
        f" median {100 * statistics.median(errors):.1f} % of the real wait,"
        f" worst {100 * max(errors):.1f} % (goal: median <= 20 %)"
    ]


def urgent_wait(tmp: Path, name: str, preemptible: bool) -> float:
    client, env = daemon(tmp, name, parallel=None, gpus="1x24GiB")
    try:
        holder = client.submit(sleep(20, gpus=1.0, preemptible=preemptible))
        while client.get_run(holder.id).state is not RunState.RUNNING:
            time.sleep(0.05)
        start = time.time()
        urgent = client.submit(sleep(0.1, gpus=1.0, priority=10))
        run = client.wait(urgent.id, timeout=120)
        assert run.started_at is not None
        waited = parse_iso(run.started_at) - start
        if not client.get_run(holder.id).state.is_final:
            client.cancel(holder.id)
    finally:
        down(env)
    return waited


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="evd-bench-forecast-") as name:
        tmp = Path(name)
        lines = eta_error(tmp)
        with_it = urgent_wait(tmp, "preempt", preemptible=True)
        without = urgent_wait(tmp, "plain", preemptible=False)
    lines.append(
        f"an urgent run behind a 20 s GPU job: waits {with_it:.2f} s when the job is"
        f" preemptible (kill grace 1 s), {without:.2f} s when it is not"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
