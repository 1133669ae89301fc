"""The front door: each CLI command's wall time against a bare interpreter start.

Runs a fresh daemon in a temp state dir, then times (median of 20) the
``evd`` console script for the commands people type most, each beside
``python -c pass`` of the same interpreter and site (the floor), and a shell
loop of ``evd run -q -- true``. The goal printed beside each figure is the
one evd holds itself to: 2.5x the floor for a command, 40 jobs/s for the loop.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evd.client import Client
from evd.models import RunState, SubmitRequest
from evd.paths import StateDir

SAMPLES = 20
LOOP_JOBS = 500
COMMAND_GOAL = 2.5  # x `python -c pass`
LOOP_GOAL = 40.0  # jobs/s


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def wall(argv: list[str], env: dict[str, str], first_byte: bool = False) -> float:
    """Seconds from spawn to exit (or to the first byte of stdout)."""
    start = time.perf_counter()
    if first_byte:
        with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            assert proc.stdout.read(1), argv
            elapsed = time.perf_counter() - start
            proc.stdout.read()
        return elapsed
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed(argv: list[str], env: dict[str, str], first_byte: bool = False) -> float:
    wall(argv, env, first_byte)  # warm the page cache
    return median_ms([wall(argv, env, first_byte) for _ in range(SAMPLES)])


def shell_loop(evd: str, env: dict[str, str], client: Client) -> float:
    """Jobs/s of ``for i in ...; do evd run -q -- true; done``, until all have ended."""
    script = f'for i in $(seq {LOOP_JOBS}); do "{evd}" run -q -- true >/dev/null; done'
    start = time.monotonic()
    subprocess.run(["sh", "-c", script], env=env, check=True)
    while active := client.list_runs(states=[RunState.QUEUED, RunState.RUNNING]):
        client.wait(active[0].id)
    return LOOP_JOBS / (time.monotonic() - start)


def main() -> None:
    evd = str(Path(sys.executable).parent / "evd")  # the console script people run
    with tempfile.TemporaryDirectory(prefix="evd-bench-cli-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "EVD_HOME": str(home)}
        subprocess.run([evd, "up"], env=env, check=True, capture_output=True)
        client = Client(StateDir(home))
        try:
            done = client.submit(SubmitRequest(command=["echo", "hello"], cwd="/"))
            assert client.wait(done.id).state is RunState.SUCCEEDED
            ident = str(done.id)
            floor = timed([sys.executable, "-c", "pass"], env)
            commands: list[tuple[str, list[str], bool]] = [
                ("run -q -- true", ["run", "-q", "--", "true"], False),
                ("ps", ["ps"], False),
                ("show ID", ["show", ident], False),
                ("logs ID (first byte)", ["logs", ident], True),
                ("wait ID (ended)", ["wait", ident], False),
                ("--help", ["--help"], False),
            ]
            rows = [(label, timed([evd, *words], env, first)) for label, words, first in commands]
            # Each cancel needs a run of its own, queued behind a held one.
            held = [
                client.submit(SubmitRequest(command=["sleep", "600"], cwd="/")).id
                for _ in range(SAMPLES + 1 + (os.cpu_count() or 1))
            ]
            to_cancel = iter(reversed(held))
            cancels = [wall([evd, "cancel", str(next(to_cancel))], env) for _ in range(SAMPLES)]
            rows.append(("cancel ID (queued)", median_ms(cancels)))
            for run_id in held[:-SAMPLES]:  # the rest were cancelled above
                client.cancel(run_id)
            rate = shell_loop(evd, env, client)
        finally:
            client.close()
            subprocess.run([evd, "down"], env=env, check=False, capture_output=True)

    print(f"CLI wall time, median of {SAMPLES}; floor `python -c pass` {floor:.1f} ms")
    for label, ms in rows:
        ratio = ms / floor
        mark = "ok" if ratio <= COMMAND_GOAL else "over"
        print(f"  evd {label:22} {ms:7.1f} ms   {ratio:4.1f}x  (goal {COMMAND_GOAL}x: {mark})")
    mark = "ok" if rate >= LOOP_GOAL else "under"
    print(f"shell loop of {LOOP_JOBS} `evd run -q -- true`, until all ended")
    print(f"  {rate:6.1f} jobs/s   (goal {LOOP_GOAL:.0f} jobs/s: {mark})")


if __name__ == "__main__":
    main()
