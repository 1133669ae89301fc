"""Limits and metrics against a real daemon: memory, GPU memory, outside use, faults, strays."""

import sys
from pathlib import Path

from tests.conftest import Evd, process_gone, wait_for
from tests.fakenvml import GIB
from tests.helpers import fake_gpus, show, submit

HOLD = "while [ ! -e {gate} ]; do sleep 0.02; done"


def start(evd_env: Evd, *extra: str) -> Evd:
    evd_env.env["EVD_MEMORY_LIMITS"] = "sampler"  # the same mechanism on every machine
    evd_env.cli("up", "--kill-grace", "1", "--sample-interval", "0.1", *extra, check=True)
    return evd_env


def test_a_job_over_its_memory_limit_is_stopped_and_says_so(evd_env: Evd) -> None:
    evd = start(evd_env)
    grow = "import time\nx = bytearray(400 * 2**20)\ntime.sleep(30)"
    run_id = submit(evd, "--memory", "150MiB", "--", sys.executable, "-c", grow)
    assert evd.cli("wait", run_id, timeout=30).returncode == 137
    run = show(evd, run_id)
    assert (run["state"], run["failed_by"]) == ("failed", "user")
    reason = str(run["reason"])
    assert reason.startswith("exceeded its memory limit of 0.15 GiB: its processes held")
    assert int(run["metrics"]["rss"]) > 150 * 2**20  # type: ignore[index]
    assert "memory limits: sampler" in evd.cli("gpus", check=True).stdout


def test_metrics_are_sampled_and_peaks_shown(evd_env: Evd) -> None:
    evd = start(evd_env)
    busy = (
        "import time\nx = bytearray(80 * 2**20)\nt = time.time()\nwhile time.time() - t < 1.2: pass"
    )
    run_id = submit(evd, "--memory", "1GiB", "--", sys.executable, "-c", busy)
    assert evd.cli("wait", run_id, timeout=30).returncode == 0
    peaks = show(evd, run_id)["metrics"]
    assert isinstance(peaks, dict) and peaks["rss"] > 80 * 2**20 and peaks["cpu_percent"] > 30
    series = evd.client().metrics(int(run_id))["series"]
    assert len(series["t"]) >= 5 and max(series["rss"]) == peaks["rss"]
    assert "peaks      CPU" in evd.cli("show", run_id, check=True).stdout


def test_gpu_memory_held_outside_evd_is_not_handed_out(evd_env: Evd, tmp_path: Path) -> None:
    nvml = fake_gpus(evd_env, 1)
    evd = start(evd_env)
    nvml.update(0, compute=[[1, 20 * GIB]], used=20 * GIB)  # pid 1: not a job of evd's
    wait_for(lambda: "20.0 GiB used outside evd" in evd.cli("gpus", check=True).stdout)
    run_id = submit(evd, "--gpus", "0.5", "--gpu-memory", "8GiB", "--", "true")
    reason = str(show(evd, run_id)["reason"])
    assert show(evd, run_id)["state"] == "queued" and "GPU0 has 4.0 GiB" in reason
    nvml.update(0, compute=[], used=0)
    assert evd.cli("wait", run_id, timeout=30).returncode == 0


def test_gpu_processes_of_another_pid_namespace_are_named(evd_env: Evd) -> None:
    nvml = fake_gpus(evd_env, 1)
    evd = start(evd_env)
    nvml.update(0, compute=[[4_000_000_000, GIB]], used=GIB)  # no such pid here
    wait_for(lambda: "do not exist here (pid 4000000000)" in evd.cli("gpus", check=True).stdout)
    assert "--pid=host" in evd.cli("gpus", check=True).stdout


def test_gpu_memory_over_the_request_is_flagged(evd_env: Evd, tmp_path: Path) -> None:
    nvml = fake_gpus(evd_env, 1)
    evd = start(evd_env)
    gate = tmp_path / "gate"
    run_id = submit(
        evd, "--gpus", "0.5", "--gpu-memory", "2GiB", "--", "sh", "-c", HOLD.format(gate=gate)
    )
    wait_for(lambda: show(evd, run_id)["state"] == "running")
    # A graphics (EGL) context counts as much as a compute one.
    nvml.update(0, graphics=[[show(evd, run_id)["pid"], 5 * GIB]], used=5 * GIB)
    wait_for(lambda: "gpu_overuse" in show(evd, run_id)["metrics"])  # type: ignore[operator]
    gate.touch()
    assert evd.cli("wait", run_id, timeout=30).returncode == 0  # flagged, not stopped
    log = evd.cli("logs", run_id).stdout
    assert (
        "evd: warning: this job held 5.00 GiB of GPU memory on GPU0, more than the 2.00 GiB" in log
    )


def test_gpu_memory_over_the_request_stops_the_job_when_configured(evd_env: Evd) -> None:
    evd_env.home.mkdir(parents=True, exist_ok=True)
    (evd_env.home / "config.toml").write_text("[resources]\nstop_gpu_overuse = true\n")
    nvml = fake_gpus(evd_env, 1)
    evd = start(evd_env)
    run_id = submit(evd, "--gpus", "0.5", "--gpu-memory", "2GiB", "--", "sleep", "30")
    wait_for(lambda: show(evd, run_id)["state"] == "running")
    nvml.update(0, compute=[[show(evd, run_id)["pid"], 3 * GIB]], used=3 * GIB)
    assert evd.cli("wait", run_id, timeout=30).returncode == 137
    assert str(show(evd, run_id)["reason"]).endswith("it asked for; evd stopped it")


def test_a_process_that_escaped_a_finished_run_is_stopped_before_its_gpu_is_reused(
    evd_env: Evd, tmp_path: Path
) -> None:
    nvml = fake_gpus(evd_env, 1)
    evd = start(evd_env)
    stray_pid = tmp_path / "stray.pid"
    # The job leaves a process behind in a session of its own, holding the GPU.
    escape = f"setsid sh -c 'echo $$ > {stray_pid}; exec sleep 60' </dev/null >/dev/null 2>&1 &"
    escape += f" while [ ! -s {stray_pid} ]; do sleep 0.02; done"
    first = submit(evd, "--gpus", "1", "--", "sh", "-c", escape)
    wait_for(lambda: stray_pid.exists() and stray_pid.read_text().strip() != "")
    pid = int(stray_pid.read_text())
    nvml.update(0, compute=[[pid, 10 * GIB]], used=10 * GIB)
    assert evd.cli("wait", first, timeout=30).returncode == 0
    second = submit(evd, "--gpus", "1", "--", "true")
    assert evd.cli("wait", second, timeout=30).returncode == 0
    assert process_gone(pid)


def test_an_unhealthy_gpu_is_drained_with_its_reason(evd_env: Evd) -> None:
    nvml = fake_gpus(evd_env, 2)
    evd = start(evd_env)
    nvml.update(1, ecc_uncorrected=2)
    wait_for(lambda: "DRAINED: 2 uncorrected ECC" in evd.cli("gpus", check=True).stdout)
    run_id = submit(evd, "--gpus", "2", "--", "true")
    run = show(evd, run_id)
    assert run["state"] == "queued" and "GPU1 drained: 2 uncorrected ECC" in str(run["reason"])
    nvml.update(1, ecc_uncorrected=0)  # reset: in service again
    assert evd.cli("wait", run_id, timeout=30).returncode == 0


def test_a_programs_xid_leaves_its_gpu_in_service_a_devices_xid_drains_it(evd_env: Evd) -> None:
    nvml = fake_gpus(evd_env, 2)
    evd = start(evd_env)
    nvml.xid(1, 31)  # an illegal memory access: the program's fault, not the GPU's
    nvml.xid(0, 79)  # fallen off the bus
    wait_for(lambda: "DRAINED: Xid 79" in evd.cli("gpus", check=True).stdout)
    shown = evd.cli("gpus", check=True).stdout
    assert "Xid 31" not in shown
    assert evd.cli("wait", submit(evd, "--gpus", "1", "--", "true"), timeout=30).returncode == 0
    run_id = submit(evd, "--gpus", "2", "--", "true")
    assert "GPU0 drained: Xid 79" in str(show(evd, run_id)["reason"])
    evd.cli("cancel", run_id, check=True)


def test_a_gpu_lost_while_a_job_runs_on_it_is_drained(evd_env: Evd, tmp_path: Path) -> None:
    nvml = fake_gpus(evd_env, 2)
    evd = start(evd_env)
    gate = tmp_path / "gate"
    first = submit(evd, "--gpus", "1", "--", "sh", "-c", HOLD.format(gate=gate))
    wait_for(lambda: show(evd, first)["state"] == "running")
    nvml.update(0, lost=1)  # it fell off the bus: NVML answers "GPU is lost" for it
    wait_for(lambda: "DRAINED: GPU is lost" in evd.cli("gpus", check=True).stdout)
    gate.touch()
    evd.cli("wait", first, timeout=30)
    second = submit(evd, "--gpus", "1", "--", "true")
    assert evd.cli("wait", second, timeout=30).returncode == 0
    assert show(evd, second)["gpus"] == [1]


def test_multi_gpu_jobs_get_their_own_master_port_and_linked_devices(
    evd_env: Evd, tmp_path: Path
) -> None:
    fake_gpus(evd_env, 4, system={"nvlink": [[0, 2], [1, 3]]})
    evd = start(evd_env)
    gate = tmp_path / "gate"
    report = 'echo "$CUDA_VISIBLE_DEVICES $MASTER_ADDR:$MASTER_PORT"; ' + HOLD.format(gate=gate)
    pair = [submit(evd, "--gpus", "2", "--cpus", "0.1", "--", "sh", "-c", report) for _ in range(2)]
    single = submit(evd, "--gpus", "0", "--cpus", "0.1", "--", "sh", "-c", 'echo "[$MASTER_PORT]"')
    wait_for(lambda: all(show(evd, i)["state"] == "running" for i in pair))
    gate.touch()
    evd.cli("wait", *pair, single, timeout=30)
    lines = [evd.cli("logs", i).stdout.split() for i in pair]
    assert sorted(line[0] for line in lines) == ["0,2", "1,3"]
    ports = {line[1] for line in lines}
    assert len(ports) == 2 and all(p.startswith("127.0.0.1:") for p in ports)
    assert evd.cli("logs", single).stdout == "[]\n"


def test_config_hides_devices_and_keeps_capacity_back(evd_env: Evd) -> None:
    evd_env.home.mkdir(parents=True, exist_ok=True)
    (evd_env.home / "config.toml").write_text(
        '[resources]\nhide_gpus = [1]\nreserve_cpus = 0.5\nreserve_memory = "1GiB"\n'
    )
    fake_gpus(evd_env, 2)
    evd = start(evd_env)
    shown = evd.cli("gpus", check=True).stdout
    assert "GPU 1" in shown and "kept back for the desktop: 0.5 CPUs, 1.0 GiB" in shown
    run_id = submit(evd, "--gpus", "2", "--", "true")
    assert "this machine has 1" in str(show(evd, run_id)["reason"])
    report = submit(evd, "--gpus", "1", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
    evd.cli("wait", report, timeout=30)
    assert evd.cli("logs", report).stdout == "0\n"
