"""GPU scheduling on the fake NVML: confinement, sharing, waiting reasons, impossible requests."""

import json
from pathlib import Path
from typing import Any

from tests.conftest import Evd, wait_for
from tests.fakenvml import GIB
from tests.helpers import fake_gpus, show

MIB = 1024**2

REPORT = 'echo "cuda=[$CUDA_VISIBLE_DEVICES] order=$CUDA_DEVICE_ORDER omp=$OMP_NUM_THREADS"'


def gpu_daemon(evd_env: Evd, gpus: int = 4, parallel: str = "8", **fields: Any) -> Evd:
    fake_gpus(evd_env, gpus, **fields)
    evd_env.cli("up", "--parallel", parallel, "--kill-grace", "1", check=True)
    return evd_env


def test_concurrent_one_gpu_jobs_each_see_their_own_device(evd_env: Evd, tmp_path: Path) -> None:
    evd = gpu_daemon(evd_env)
    gate = tmp_path / "gate"
    hold = f"{REPORT}; while [ ! -e {gate} ]; do sleep 0.02; done"
    ids = [
        evd.cli(
            "run", "-q", "--gpus", "1", "--cpus", "0.25", "--", "sh", "-c", hold, check=True
        ).stdout.strip()
        for _ in range(5)
    ]
    wait_for(lambda: [show(evd, i)["state"] for i in ids[:4]] == ["running"] * 4)
    fifth = show(evd, ids[4])
    assert fifth["state"] == "queued"
    assert "0 GPU(s) free" in str(fifth["reason"]) and "GPU3 held by run" in str(fifth["reason"])
    gate.touch()
    evd.cli("wait", "-q", *ids, timeout=60)
    devices = [show(evd, i)["gpus"] for i in ids]
    assert sorted(d[0] for d in devices[:4]) == [0, 1, 2, 3]  # type: ignore[index]
    logs = [evd.cli("logs", i).stdout.strip() for i in ids]
    for shown_devices, log in zip(devices, logs, strict=True):
        assert log == f"cuda=[{shown_devices[0]}] order=PCI_BUS_ID omp=1"  # type: ignore[index]


def test_cpu_only_jobs_see_no_gpu_and_threads_follow_cpus(evd_env: Evd) -> None:
    evd = gpu_daemon(evd_env)
    run_id = evd.cli("run", "-q", "--cpus", "2", "--", "sh", "-c", REPORT, check=True).stdout
    evd.cli("wait", "-q", run_id.strip())
    assert evd.cli("logs", run_id.strip()).stdout.strip() == "cuda=[] order=PCI_BUS_ID omp=2"


def test_fractions_share_a_device_without_overcommitting_memory(
    evd_env: Evd, tmp_path: Path
) -> None:
    evd = gpu_daemon(evd_env, gpus=1)
    gate = tmp_path / "gate"
    hold = f"{REPORT}; while [ ! -e {gate} ]; do sleep 0.02; done"
    ids = [
        evd.cli(
            "run", "-q", "--gpus", "0.5", "--gpu-memory", "10GiB", "--cpus", "0.25",
            "--", "sh", "-c", hold, check=True,
        ).stdout.strip()
        for _ in range(3)
    ]  # fmt: skip
    wait_for(lambda: [show(evd, i)["state"] for i in ids[:2]] == ["running"] * 2)
    third = show(evd, ids[2])
    assert third["state"] == "queued" and "GPU0 has 4.0 GiB" in str(third["reason"])
    gate.touch()
    evd.cli("wait", "-q", *ids, timeout=60)
    assert all(show(evd, i)["gpus"] == [0] for i in ids)


def test_two_halves_share_a_device_the_driver_keeps_some_memory_of(
    evd_env: Evd, tmp_path: Path
) -> None:
    # A real idle 24 GiB device: NVML's v1 counts the driver's 500 MiB as used.
    evd = gpu_daemon(evd_env, gpus=1, reserved=500 * MIB)
    gate = tmp_path / "gate"
    hold = f"while [ ! -e {gate} ]; do sleep 0.02; done"
    halves = [
        evd.cli("run", "-q", "--gpus", "0.5", "--", "sh", "-c", hold, check=True).stdout.strip()
        for _ in range(2)
    ]
    wait_for(lambda: [show(evd, i)["state"] for i in halves] == ["running"] * 2)
    (gpu,) = evd.client().gpus()["gpus"]
    assert (gpu["memory_total"], gpu["memory_reserved"]) == (24 * GIB - 500 * MIB, 500 * MIB)
    assert gpu["memory_external"] == 0
    gate.touch()
    evd.cli("wait", "-q", *halves, timeout=60)


def test_where_cuda_skips_a_device_jobs_are_given_gpu_uuids(evd_env: Evd) -> None:
    # GPU1 is in MIG mode: CUDA does not count it, so CUDA's GPU1 is NVML's GPU2.
    nvml = fake_gpus(evd_env, 3)
    nvml.update(1, mig=1)
    evd = evd_env
    evd.cli("up", "--parallel", "8", "--kill-grace", "1", check=True)
    machine = evd.client().gpus()
    assert machine["uuids_for_jobs"] is True
    assert machine["gpus"][1]["problem"].startswith("MIG mode is on")
    run_id = evd.cli("run", "-q", "--gpus", "2", "--", "sh", "-c", REPORT, check=True).stdout
    evd.cli("wait", "-q", run_id.strip(), timeout=30)
    uuids = ",".join(nvml.device(i)["uuid"] for i in (0, 2))
    assert evd.cli("logs", run_id.strip()).stdout.startswith(f"cuda=[{uuids}]")
    assert show(evd, run_id.strip())["gpus"] == [0, 2]


def test_a_request_the_machine_can_never_satisfy_fails_at_submit(evd_env: Evd) -> None:
    evd = gpu_daemon(evd_env, gpus=2)
    too_many = evd.cli("run", "--gpus", "3", "--", "true")
    assert too_many.returncode == 125
    assert "can never start on this machine: it asks for 3 GPUs; this machine has 2" in (
        too_many.stderr
    )
    too_big = evd.cli("run", "--gpus", "1", "--gpu-memory", "80GiB", "--", "true")
    assert "the largest GPU here has 24.0 GiB" in too_big.stderr
    bad = evd.cli("run", "--gpus", "1.5", "--", "true")
    assert bad.returncode == 2 and "only whole numbers" in bad.stderr


def test_a_jobs_declared_resources_are_scheduled(evd_env: Evd, tmp_path: Path) -> None:
    evd = gpu_daemon(evd_env, gpus=2)
    job = tmp_path / "train.py"
    job.write_text(
        "import os\n"
        "from evd import Env, Job\n"
        'job = Job("train", Env(), gpus=2, cpus=0.5)\n\n'
        "@job.main()\n"
        "def main() -> str:\n"
        '    return os.environ["CUDA_VISIBLE_DEVICES"]\n'
    )
    run_id = evd.cli("run", "-q", str(job), check=True).stdout.strip()
    evd.cli("wait", "-q", run_id, timeout=60)
    assert json.loads(evd.cli("result", run_id, check=True).stdout) == "0,1"
    assert show(evd, run_id)["gpus"] == [0, 1]


def test_drain_starts_nothing_new_survives_a_restart_and_resume_starts_again(
    evd: Evd, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    running = evd.cli(
        "run", "-q", "--", "sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.02; done", check=True
    ).stdout.strip()
    wait_for(lambda: show(evd, running)["state"] == "running")
    assert "draining" in evd.cli("drain", check=True).stdout
    queued = evd.cli("run", "-q", "--", "echo", "later", check=True).stdout.strip()
    assert (
        show(evd, queued)["reason"] == "waiting: evd is draining (`evd resume` starts runs again)"
    )
    gate.touch()
    evd.cli("wait", "-q", running, timeout=30)  # the running one finishes
    evd.cli("down", check=True)
    evd.up()
    assert show(evd, queued)["state"] == "queued"  # still draining after the restart
    assert evd.client().health().draining
    evd.cli("resume", check=True)
    assert evd.cli("wait", "-q", queued, timeout=30).returncode == 0


def test_a_short_run_with_a_timeout_backfills_onto_what_a_waiting_big_run_needs(
    evd_env: Evd, tmp_path: Path
) -> None:
    evd = gpu_daemon(evd_env, gpus=2)
    gate = tmp_path / "gate"
    hold = f"while [ ! -e {gate} ]; do sleep 0.02; done"

    def run(*args: str) -> str:
        return evd.cli("run", "-q", "--cpus", "0.25", *args, check=True).stdout.strip()

    busy = run("--gpus", "1", "--timeout", "1h", "--", "sh", "-c", hold)
    wait_for(lambda: show(evd, busy)["state"] == "running")
    evd.cli("down", check=True)  # the running job's end is known again after a restart
    evd.cli("up", "--parallel", "8", "--kill-grace", "1", check=True)
    big = run("--gpus", "2", "--", "true")  # the head: sure to fit within the hour
    endless = run("--gpus", "1", "--", "true")  # no timeout: it would delay the head
    short = run("--gpus", "1", "--timeout", "10m", "--", "sh", "-c", REPORT)
    assert evd.cli("wait", "-q", short, timeout=30).returncode == 0
    assert show(evd, short)["gpus"] == [1]
    assert (show(evd, big)["state"], show(evd, endless)["state"]) == ("queued", "queued")
    reason = str(show(evd, big)["reason"])
    assert "sure to start within 1h00m (running jobs' timeouts)" in reason or (
        "sure to start within 59m" in reason
    )
    gate.touch()
    assert evd.cli("wait", "-q", big, endless, timeout=30).returncode == 0
    assert show(evd, big)["started_at"] < show(evd, endless)["started_at"]  # type: ignore[operator]


def test_a_cpu_kept_for_the_head_of_the_queue_is_named(evd_env: Evd, tmp_path: Path) -> None:
    """A CPU-only run that fits the free CPU but waits because it is kept says for whom, why."""
    evd = gpu_daemon(evd_env, gpus=2)
    usable = float(evd.client().gpus()["cpus_usable"])
    gate = tmp_path / "gate"
    hold = f"while [ ! -e {gate} ]; do sleep 0.02; done"
    first = evd.cli(
        "run", "-q", "--name", "train", "--gpus", "1", "--cpus", f"{usable - 1:g}",
        "--", "sh", "-c", hold, check=True,
    ).stdout.strip()  # fmt: skip
    wait_for(lambda: show(evd, first)["state"] == "running")
    big = evd.cli("run", "-q", "--name", "big", "--gpus", "2", "--", "true", check=True)
    small = evd.cli("run", "-q", "--name", "small", "--", "true", check=True).stdout.strip()
    reason = str(show(evd, small)["reason"])
    assert reason.startswith(f"1 CPU kept for run {big.stdout.strip()} (big), which needs 2 GPUs")
    assert f"GPU0 held by run {first} (train)" in reason and "its turn" not in reason
    gate.touch()
    evd.cli("wait", "-q", small, timeout=60)


def test_fractional_cpus_come_back_exactly(evd_env: Evd) -> None:
    evd = gpu_daemon(evd_env, gpus=0)
    ids = [
        evd.cli("run", "-q", "--cpus", cpus, "--", "true", check=True).stdout.strip()
        for cpus in ("0.1", "0.2", "0.3") * 5
    ]
    evd.cli("wait", "-q", *ids, timeout=60)
    machine = evd.client().gpus()
    assert machine["cpus_free"] == machine["cpus_usable"]
