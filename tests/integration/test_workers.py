"""Warm workers: a reusable job's runs are served by one process that loaded it once."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.conftest import Evd, process_gone, wait_for
from tests.helpers import fake_gpus, show, submit

MODEL = """\
import os
import time

from evd import Job, Reuse

job = Job("model", reusable=Reuse(idle_ttl={idle_ttl!r}, replicas={replicas}){extra})
_model = None


def load():
    global _model
    if _model is None:  # the slow part, once per worker
        with open({loads!r}, "a") as loads:
            loads.write(f"{{os.getpid()}}\\n")
        time.sleep(0.3)
        _model = {{"weight": 3}}
    return _model


@job.main()
def main(x: int = 1, mode: str = "serve") -> dict:
    model = load()
    print(f"serving {{x}} in {{os.getpid()}}", flush=True)
    if mode == "crash":
        os._exit(9)
    if mode == "wait":
        while not os.path.exists({gate!r}):
            time.sleep(0.02)
    if mode == "hog":
        hog = bytearray(300 * 1024 * 1024)
        while not os.path.exists({gate!r}):
            time.sleep(0.02)
    if mode == "stubborn":
        while True:
            try:
                time.sleep(0.05)
            except KeyboardInterrupt:
                print("not stopping", flush=True)
    return {{
        "y": x * model["weight"] + {bias},
        "pid": os.getpid(),
        "worker": os.environ.get("EVD_WORKER_ID"),
        "run": os.environ.get("EVD_RUN_ID"),
    }}
"""


class Model:
    """A reusable job whose model loads once per worker (``loads`` counts the loads)."""

    def __init__(
        self, folder: Path, idle_ttl: str = "1m", extra: str = "", replicas: int = 1
    ) -> None:
        self.loads, self.gate, self.file = folder / "loads", folder / "gate", folder / "model.py"
        self.idle_ttl, self.extra, self.replicas = idle_ttl, extra, replicas
        self.write()

    def write(self, bias: int = 0) -> None:
        self.file.write_text(
            MODEL.format(
                idle_ttl=self.idle_ttl,
                replicas=self.replicas,
                extra=self.extra,
                bias=bias,
                loads=str(self.loads),
                gate=str(self.gate),
            )
        )

    def load_count(self) -> int:
        return len(self.loads.read_text().splitlines()) if self.loads.exists() else 0


def result(evd: Evd, run_id: str) -> dict[str, object]:
    assert evd.cli("wait", run_id, timeout=120).returncode == 0, evd.cli("logs", run_id).stdout
    value: dict[str, object] = json.loads(evd.cli("result", run_id, check=True).stdout)
    return value


def workers(evd: Evd) -> list[Path]:
    return sorted((evd.home / "workers").glob("[0-9]*"))


def test_runs_of_a_reusable_job_share_one_loaded_worker(evd: Evd, tmp_path: Path) -> None:
    model = Model(tmp_path)
    first = submit(evd, str(model.file), "--x", "1")
    one = result(evd, first)
    second = submit(evd, str(model.file), "--x", "2")
    two = result(evd, second)
    assert (one["y"], two["y"]) == (3, 6)
    assert one["pid"] == two["pid"] and one["worker"] == two["worker"]
    assert (one["run"], two["run"]) == (first, second)  # each call sees its own run
    assert model.load_count() == 1
    assert evd.cli("logs", second).stdout == f"serving 2 in {two['pid']}\n"  # its own log
    assert show(evd, second)["state"] == "succeeded"


def test_cancel_and_timeout_interrupt_the_call_and_the_worker_stays(
    evd: Evd, tmp_path: Path
) -> None:
    model = Model(tmp_path)
    pid = result(evd, submit(evd, str(model.file)))["pid"]
    cancelled = submit(evd, str(model.file), "--mode", "wait")
    wait_for(lambda: "serving" in evd.cli("logs", cancelled).stdout, timeout=60)
    evd.cli("cancel", cancelled, check=True)
    assert evd.cli("wait", cancelled, timeout=60).returncode != 0
    assert show(evd, cancelled)["state"] == "cancelled"
    wait_for(lambda: "interrupted" in evd.cli("logs", cancelled).stdout)
    timed_out = submit(evd, "--timeout", "1s", str(model.file), "--mode", "wait")
    assert evd.cli("wait", timed_out, timeout=60).returncode == 124
    assert result(evd, submit(evd, str(model.file)))["pid"] == pid
    assert model.load_count() == 1


def test_a_crashed_worker_fails_only_its_run(evd: Evd, tmp_path: Path) -> None:
    model = Model(tmp_path)
    pid = result(evd, submit(evd, str(model.file)))["pid"]
    crashed = submit(evd, str(model.file), "--mode", "crash")
    assert evd.cli("wait", crashed, timeout=60).returncode != 0
    shown = show(evd, crashed)
    assert shown["state"] == "failed"
    assert str(shown["reason"]).startswith("its warm worker ended before the call returned")
    after = result(evd, submit(evd, str(model.file)))
    assert after["pid"] != pid and model.load_count() == 2


def test_a_call_that_ignores_a_cancel_takes_its_worker_down(evd: Evd, tmp_path: Path) -> None:
    model = Model(tmp_path)
    pid = result(evd, submit(evd, str(model.file)))["pid"]
    stubborn = submit(evd, str(model.file), "--mode", "stubborn")
    wait_for(lambda: "serving" in evd.cli("logs", stubborn).stdout, timeout=60)
    evd.cli("cancel", stubborn, check=True)
    assert evd.cli("wait", stubborn, timeout=60).returncode != 0
    assert isinstance(pid, int)
    wait_for(lambda: process_gone(pid), timeout=30)  # past the 1 s grace
    assert show(evd, stubborn)["state"] == "cancelled"
    assert result(evd, submit(evd, str(model.file)))["pid"] != pid


def test_an_idle_worker_retires_after_its_idle_ttl(evd: Evd, tmp_path: Path) -> None:
    model = Model(tmp_path, idle_ttl="1s")
    pid = result(evd, submit(evd, str(model.file)))["pid"]
    assert isinstance(pid, int)
    wait_for(lambda: process_gone(pid), timeout=30)
    wait_for(lambda: not workers(evd))


def test_a_run_on_a_worker_survives_kill_9_of_the_daemon(evd: Evd, tmp_path: Path) -> None:
    model = Model(tmp_path)
    pid = result(evd, submit(evd, str(model.file)))["pid"]
    assert isinstance(pid, int)
    waiting = submit(evd, str(model.file), "--x", "5", "--mode", "wait")
    wait_for(lambda: "serving" in evd.cli("logs", waiting).stdout, timeout=60)
    os.kill(evd.daemon_pid(), signal.SIGKILL)
    model.gate.touch()  # the call returns while no daemon runs
    wait_for(lambda: process_gone(pid), timeout=30)  # then the worker, left alone, exits
    evd.up()
    assert result(evd, waiting)["y"] == 15
    assert show(evd, waiting)["state"] == "succeeded"


def test_an_idle_worker_holds_its_gpu_until_a_waiting_run_needs_it(
    evd_env: Evd, tmp_path: Path
) -> None:
    fake_gpus(evd_env, 1)
    evd_env.up()
    model = Model(tmp_path, extra=", gpus=1")
    pid = result(evd_env, submit(evd_env, str(model.file)))["pid"]
    assert isinstance(pid, int)
    gpus = json.loads(evd_env.cli("gpus", "--json", check=True).stdout)
    gpu = gpus["gpus"][0]
    assert (gpu["runs"], [w["id"] for w in gpu["workers"]]) == ([], [1])  # held while idle
    needs_gpu = submit(evd_env, "--gpus", "1", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
    assert evd_env.cli("wait", needs_gpu, timeout=60).returncode == 0
    assert process_gone(pid)  # stopped for it, long before its idle_ttl
    assert evd_env.cli("logs", needs_gpu).stdout.strip() != ""


def listed(evd: Evd) -> list[dict[str, object]]:
    shown: list[dict[str, object]] = json.loads(evd.cli("workers", "--json", check=True).stdout)
    return shown


def test_evd_workers_lists_them_and_a_changed_file_gets_a_new_one(evd: Evd, tmp_path: Path) -> None:
    model = Model(tmp_path)
    old = result(evd, submit(evd, str(model.file)))["pid"]
    assert isinstance(old, int)
    wait_for(lambda: [w["state"] for w in listed(evd)] == ["idle"])
    [worker] = listed(evd)
    assert (worker["name"], worker["runs"], worker["gpus"]) == ("model", 1, [])
    assert "model" in evd.cli("workers", check=True).stdout
    model.write(bias=100)  # another version of the job
    new = result(evd, submit(evd, str(model.file)))
    assert new["y"] == 103 and new["pid"] != old
    wait_for(lambda: process_gone(old), timeout=30)  # the old version's worker retired
    assert [w["runs"] for w in listed(evd)] == [1]


def test_replicas_is_how_many_workers_a_job_may_have(evd: Evd, tmp_path: Path) -> None:
    (tmp_path / "two").mkdir()
    two = Model(tmp_path / "two", replicas=2)
    both = [submit(evd, str(two.file), "--mode", "wait") for _ in range(2)]
    wait_for(lambda: two.load_count() == 2, timeout=60)  # two workers, side by side
    two.gate.touch()
    assert evd.cli("wait", *both, timeout=60).returncode == 0
    source = str(two.file)
    wait_for(lambda: [w["state"] for w in listed(evd) if w["source"] == source] == ["idle"] * 2)

    (tmp_path / "one").mkdir()
    one = Model(tmp_path / "one", replicas=1)
    first, second = (submit(evd, str(one.file), "--mode", "wait") for _ in range(2))
    reason = "waiting for its job's warm worker (worker"
    wait_for(lambda: str(show(evd, second)["reason"]).startswith(reason), timeout=60)
    one.gate.touch()
    assert result(evd, first)["pid"] == result(evd, second)["pid"]  # one after the other
    assert one.load_count() == 1


def test_the_worker_s_memory_counts_against_its_run_s_limit(evd: Evd, tmp_path: Path) -> None:
    model = Model(tmp_path, extra=', memory="150MiB"')
    pid = result(evd, submit(evd, str(model.file)))["pid"]
    assert isinstance(pid, int)
    hog = submit(evd, str(model.file), "--mode", "hog")
    assert evd.cli("wait", hog, timeout=60).returncode != 0
    shown = show(evd, hog)
    assert shown["state"] == "failed" and "memory" in str(shown["reason"]), shown["reason"]
    wait_for(lambda: process_gone(pid), timeout=30)  # its memory is the worker's: it retires
