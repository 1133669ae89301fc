"""A preemptible job that checkpoints: stopped for a more urgent run, it carries on where it was.

    evd run --gpus 1 examples/checkpoint.py --steps 3000        # preemptible (declared below)
    evd run --gpus 1 --priority 10 -- python urgent.py           # stops it; it waits, then resumes

When evd preempts the run it sends SIGTERM: the job saves its step under
``EVD_OUTPUT_DIR`` and exits. The run goes back to the queue ("preempted by
run 12"), which costs it no retry; its next attempt runs with
``EVD_PREEMPTED=1`` (``evd.preempted()``) and starts from the saved step.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import evd
from evd import Job

job = Job("checkpoint", preemptible=True)


@job.main()
def main(steps: int = 20, pause: float = 0.02) -> dict[str, int]:
    """Count ``steps`` steps, ``pause`` seconds each; return where it began and ended."""
    checkpoint = Path(os.environ.get("EVD_OUTPUT_DIR", ".")) / "checkpoint.json"
    start = 0
    if evd.preempted() and checkpoint.exists():
        start = json.loads(checkpoint.read_text())["step"]
        print(f"preempted before: resuming at step {start}", flush=True)
    step = start
    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    while step < steps:
        if stopping:
            checkpoint.write_text(json.dumps({"step": step}))
            print(f"asked to stop: saved step {step}", flush=True)
            sys.exit(128 + signal.SIGTERM)  # not done: evd queues it again
        time.sleep(pause)
        step += 1
        if step % 100 == 0:
            print(f"step {step}", flush=True)
    print(f"counted to {step} (from step {start})")
    return {"started_at_step": start, "steps": step}
