"""Progress reaches the daemon while a job runs: from Daft, from ``evd.progress``, from tqdm bars.

Daft jobs are hooked without their code doing anything (``evd.sdk.boot``);
the same hook gives each GPU UDF worker its own device (fake GPUs here).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.conftest import Evd, wait_for
from tests.helpers import fake_gpus
from tests.integration.test_usage import show, submit


def start(evd_env: Evd, *extra: str, gpus: int = 0, offline: Path | None = None) -> Evd:
    if gpus:
        fake_gpus(evd_env, gpus)
    if offline is not None:
        evd_env.home.mkdir(parents=True, exist_ok=True)
        (evd_env.home / "config.toml").write_text(
            f'[index]\nno_index = true\nfind_links = ["{offline}"]\n'
        )
    evd_env.cli("up", "--kill-grace", "1", "--sample-interval", "0.1", *extra, check=True)
    return evd_env


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def test_a_job_reports_progress_with_one_sdk_call(
    evd_env: Evd, wheels: Path, tmp_path: Path
) -> None:
    evd = start(evd_env, offline=wheels)
    gate = tmp_path / "gate"
    job = write(
        tmp_path / "epochs.py",
        f"""\
        import os, time, evd
        for epoch in range(1, 4):
            evd.progress(epoch, 10, message=f"epoch {{epoch}}")
            time.sleep(0.3)  # past the quarter-second fold
        while not os.path.exists({str(gate)!r}):
            time.sleep(0.02)
        """,
    )
    run_id = submit(evd, str(job))
    wait_for(lambda: show(evd, run_id)["progress"] == 0.3, timeout=60)
    run = show(evd, run_id)
    assert run["progress_detail"] == {"source": "sdk", "done": 3, "total": 10, "message": "epoch 3"}
    assert "progress   30% (3/10, epoch 3)" in evd.cli("show", run_id, check=True).stdout
    gate.touch()
    assert evd.cli("wait", "-q", run_id, timeout=60).returncode == 0
    assert show(evd, run_id)["progress"] == 1.0


def test_tqdm_bars_in_a_jobs_output_are_read_as_progress(evd_env: Evd, tmp_path: Path) -> None:
    evd = start(evd_env)
    gate = tmp_path / "gate"
    bars = (
        r"printf ' 10%%|#         | 10/100 [00:01<00:09]\r'; "
        r"printf ' 45%%|####5     | 45/100 [00:02<00:03, 22.5it/s]\r'; "
        f"while [ ! -e {gate} ]; do sleep 0.02; done"
    )
    run_id = submit(evd, "--", "sh", "-c", bars)
    wait_for(lambda: show(evd, run_id)["progress"] == 0.45, timeout=30)
    assert show(evd, run_id)["progress_detail"] == {"source": "output", "done": 45, "total": 100}
    with evd.client() as client:
        # The events stream carries progress only to clients that ask for it.
        assert client.get_run(int(run_id)).progress == 0.45
    gate.touch()
    evd.cli("wait", "-q", run_id, timeout=30)


DAFT_JOB = """\
import json, os, time
import daft
from evd import Env, Job

env = Env("3.11").pip_install(["daft==0.7.26"])
job = Job("daft-progress", env)

@daft.cls(gpus=1, max_concurrency=2)
class Device:
    def __call__(self, x: int) -> str:
        time.sleep(0.002)
        return f"{{os.getpid()}}:{{os.environ.get('CUDA_VISIBLE_DEVICES')}}"

@job.main()
def main() -> dict:
    daft.set_execution_config(default_morsel_size=50)
    df = daft.from_pydict({{"x": list(range(2000))}})
    df = df.where(df["x"] % 2 == 0).with_column("seen", Device()(df["x"]))
    seen = sorted(set(df.to_pydict()["seen"]))
    while not os.path.exists({gate!r}):
        time.sleep(0.02)
    return {{"seen": seen}}
"""


def test_a_daft_job_reports_its_query_progress_and_each_gpu_worker_gets_its_own_device(
    evd_env: Evd, tmp_path: Path
) -> None:
    evd = start(evd_env, gpus=2)
    gate = tmp_path / "gate"
    job = write(tmp_path / "daft_job.py", DAFT_JOB.format(gate=str(gate)))
    run_id = submit(evd, "--gpus", "2", "--cpus", "2", str(job))
    wait_for(lambda: show(evd, run_id)["progress_detail"].get("query") == 1, timeout=240)
    wait_for(lambda: show(evd, run_id)["progress"] == 1.0, timeout=30)
    assert show(evd, run_id)["progress_detail"]["source"] == "daft"
    gate.touch()
    assert evd.cli("wait", "-q", run_id, timeout=60).returncode == 0
    seen = json.loads(evd.cli("result", run_id, check=True).stdout)["seen"]
    devices = sorted(entry.split(":")[1] for entry in seen)
    assert devices == ["0", "1"], seen  # two workers, one device each (Daft alone: "0,1")
