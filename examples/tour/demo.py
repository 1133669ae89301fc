"""`make demo`: a daemon in a throwaway state dir, a real Daft job in its own env, stop.

Runs the real `evd` command, printing each command and what it printed, so the
output reads like a terminal session.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evd.describe import describe_progress

ROOT = Path(__file__).resolve().parents[2]
EVD = [sys.executable, "-m", "evd"]


def evd(*args: str, env: dict[str, str]) -> str:
    print(f"$ evd {shlex.join(args)}", flush=True)
    result = subprocess.run(
        [*EVD, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    print(output, end="" if output.endswith("\n") or not output else "\n", flush=True)
    if result.returncode != 0 and args[0] != "wait":
        raise SystemExit(f"demo failed: `evd {shlex.join(args)}` exited {result.returncode}")
    return result.stdout


def watch_progress(run_id: str, env: dict[str, str]) -> None:
    """Print the run's state and progress as they change, as `evd show` reports them."""
    print(f"# while it runs: `evd show {run_id}` (its progress comes from Daft's own events)")
    last = None
    while True:
        shown = json.loads(
            subprocess.run(
                [*EVD, "show", "--json", run_id], env=env, capture_output=True, check=True
            ).stdout
        )
        line = shown["state"]
        if shown["progress"] is not None:
            line += "  " + describe_progress(shown["progress"], shown["progress_detail"])
        if line != last:
            print(f"  {line}", flush=True)
            last = line
        if shown["state"] not in ("queued", "building", "starting", "running"):
            return
        time.sleep(0.2)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="evd-demo-") as tmp:
        env = {**os.environ, "EVD_HOME": str(Path(tmp) / "home")}
        print(f"# a throwaway state dir: EVD_HOME={env['EVD_HOME']}\n")
        evd("up", env=env)
        try:
            # A Daft job in the ev style: evd builds its own venv (uv), then runs it.
            run_id = evd(
                "run", "-q", "examples/daft_sales.py", "--orders", "5000000", env=env
            ).strip()
            watch_progress(run_id, env)
            waited = subprocess.run(
                [*EVD, "wait", run_id], env=env, capture_output=True, text=True, check=False
            )
            print(f"$ evd wait {run_id}\n{waited.stdout}", end="")
            evd("logs", run_id, env=env)
            evd("result", run_id, env=env)
            evd("show", run_id, env=env)
            evd("envs", "ls", env=env)
            evd("ps", "--all", env=env)
        finally:
            evd("down", env=env)
    if waited.returncode != 0:
        print(f"demo failed: the job exited {waited.returncode}", file=sys.stderr)
        return 1
    print("\ndemo ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
