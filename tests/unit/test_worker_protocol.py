"""The warm worker's side of the protocol, driven directly: requests in, exit codes out."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from evd.runner.warm import hand_over, make_worker_folder, tell_to_exit
from evd.sdk.worker import DONE_FIFO, REQUESTS

JOB = """\
from evd import Job

job = Job("quick", reusable=True)


@job.main()
def main(n: int) -> int:
    print(f"called with {n}")
    return n
"""


def read_code(run_dir: Path, timeout: float = 10.0) -> str:
    """Open ``done`` as the client does, but without blocking forever, and read the code."""
    fd = os.open(run_dir / DONE_FIFO, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return os.read(fd, 64).decode() if ready else ""
    finally:
        os.close(fd)


def test_a_quick_call_s_code_waits_for_a_client_that_opens_done_late(tmp_path: Path) -> None:
    job = tmp_path / "quick.py"
    job.write_text(JOB)
    folder = tmp_path / "worker"
    make_worker_folder(folder)
    env = {**os.environ, "EVD_KILL_GRACE": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "evd.sdk.worker", str(folder), str(job), "main"], env=env
    )
    client = subprocess.Popen(["sleep", "60"])  # stands for the run's client while it lives
    try:
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        call_env = {**env, "EVD_RUN_DIR": str(run_dir)}
        hand_over(run_dir, [str(job), "main", "--", "--n", "7"], call_env, str(tmp_path))
        with open(folder / REQUESTS, "w") as requests:  # as the client's printf
            requests.write(f"{client.pid} {run_dir}\n")
        deadline = time.monotonic() + 30
        while not (run_dir / "main-exit").exists():  # the call is over before done is opened
            assert worker.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        assert read_code(run_dir) == "7\n"
        assert (run_dir / "output.log").read_text() == "called with 7\n"
        assert not (run_dir / "call.json").exists()  # it held the run's variables
        assert json.loads((run_dir / "main-exit").read_text()) == 7
    finally:
        client.kill()
        client.wait()
        tell_to_exit(folder)
        assert worker.wait(timeout=30) == 0
