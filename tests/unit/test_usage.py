"""Sampling, metrics series, topology, memory-limit wrapping and the fake GPU probe."""

import dataclasses
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evd.daemon.monitor.metrics import POINTS_PER_STEP, RunMetrics, read_series
from evd.daemon.monitor.sampler import RunSample, Sampler
from evd.resources.devices import Gpu, GpuProcess
from evd.resources.inventory import parse_fake_gpus, parse_links
from evd.resources.memlimit import MemoryEnforcement, detect, outlives_logout
from evd.resources.pool import Device, closest
from evd.resources.probe import NoProbe
from evd.runner.outcome import Outcome, read_outcome
from evd.runner.ports import free_port
from evd.runner.procenv import devices_of, job_variables
from evd.runner.shim import SCOPE_SCRIPT

GIB = 1024**3


def devices(count: int, links: dict[int, set[int]]) -> list[Device]:
    return [Device(i, 24 * GIB, links=frozenset(links.get(i, ()))) for i in range(count)]


def test_multi_gpu_requests_get_nvlinked_devices_first() -> None:
    links = parse_links("0-2,1-3", 4)
    assert closest(devices(4, links), 2) == (0, 2)
    assert closest(devices(4, {}), 2) == (0, 1)  # no topology: lowest indexes
    four = parse_links("0-1,1-2,2-3,3-0,4-5", 6)
    assert closest(devices(6, four), 2) == (0, 1)
    free = [d for d in devices(6, four) if d.index not in (0, 1)]
    assert closest(free, 2) == (2, 3)
    with pytest.raises(ValueError, match="there are 2 fake GPUs"):
        parse_links("0-5", 2)


def test_metrics_keep_every_sample_then_thin_out(tmp_path: Path) -> None:
    metrics = RunMetrics(tmp_path / "metrics.jsonl")
    for n in range(POINTS_PER_STEP + 10):
        metrics.add(1000.0 + n, RunSample(cpu_percent=n % 7, rss=n, gpu_memory={0: 2 * n}))
    assert metrics.points == POINTS_PER_STEP + 5  # every second sample after the first step
    series = read_series(tmp_path)
    assert series["t"][:2] == [1000.0, 1001.0] and series["t"][-1] == 1000.0 + POINTS_PER_STEP + 8
    top = POINTS_PER_STEP + 9
    assert metrics.peaks == {"cpu_percent": 6, "rss": top, "gpu_memory": {"0": 2 * top}}
    assert series["gpu_memory"][1] == {"0": 2}


def test_sampler_adds_up_the_process_tree_and_its_cpu(tmp_path: Path) -> None:
    code = (
        "import time\nx = bytearray(64 * 2**20)\nt = time.time()\nwhile time.time() - t < 1.5: pass"
    )
    parent = subprocess.Popen(
        ["sh", "-c", f'{sys.executable} -c "$0" & wait', code], start_new_session=True
    )
    try:
        sampler = Sampler(NoProbe(), str(tmp_path))
        time.sleep(0.5)
        sampler.sample({1: parent.pid})
        time.sleep(0.5)
        sample = sampler.sample({1: parent.pid}).runs[1]
    finally:
        parent.wait()
    assert sample.rss > 64 * 2**20
    assert 40 < sample.cpu_percent < 250


class Devices:
    """A probe that reports the devices it is given (the sampler's side of the probe)."""

    def __init__(self, gpus: list[Gpu]) -> None:
        self.gpus = gpus

    def read(self) -> list[Gpu]:
        return self.gpus


def test_gpu_processes_belong_to_the_run_in_their_environment(tmp_path: Path) -> None:
    """A process that left the job's tree is still the run's; one of an ended run lingers."""
    env = {**os.environ, "EVD_HOME": str(tmp_path), "EVD_RUN_ID": "7"}
    escaped = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    shim = subprocess.Popen(["sleep", "30"], start_new_session=True)  # the run's own tree
    try:
        first, second = parse_fake_gpus("2x24GiB")
        devices = Devices([
            dataclasses.replace(
                first,
                processes=(GpuProcess(escaped.pid, 3 * GIB), GpuProcess(other.pid, 5 * GIB)),
                memory_used=8 * GIB,
            ),
            dataclasses.replace(second, problem="Xid 79"),
        ])  # fmt: skip
        sampler = Sampler(devices, str(tmp_path))
        live = sampler.sample({7: shim.pid})
        assert live.runs[7].gpu_memory == {0: 3 * GIB}
        assert live.external == {0: 5 * GIB, 1: 0}
        assert live.gpus[1].problem == "Xid 79"
        ended = sampler.sample({})
        assert ended.lingering == {0: {escaped.pid: 7}}
    finally:
        for process in (escaped, other, shim):
            process.kill()
            process.wait()


def test_memory_limits_wrap_only_with_systemd_and_a_limit() -> None:
    scope = MemoryEnforcement("systemd-scope", "", "/usr/bin/systemd-run")
    argv = scope.wrap(["sh", "-c", "x"], 2 * GIB)
    assert argv[:4] == ["/usr/bin/systemd-run", "--user", "--scope", "--quiet"]
    assert f"MemoryMax={2 * GIB}" in argv and argv[-3:] == ["sh", "-c", "x"]
    assert scope.wrap(["sh"], 0) == ["sh"]
    forced = detect({"EVD_MEMORY_LIMITS": "sampler"}, 0.5)
    assert forced.mechanism == "sampler" and forced.wrap(["sh"], GIB) == ["sh"]
    assert "every 0.5 s" in forced.description


@pytest.mark.parametrize(
    ("version", "expand", "oom_policy"),
    [(256, True, True), (254, True, True), (253, False, True), (252, False, False)],
)
def test_the_scope_asks_only_what_its_systemd_knows(
    version: int, expand: bool, oom_policy: bool
) -> None:
    scope = MemoryEnforcement("systemd-scope", "", "/usr/bin/systemd-run", version)
    argv = scope.wrap(["sh", "-c", "echo $$"], GIB)
    assert ("--expand-environment=no" in argv) is expand
    assert ("OOMPolicy=continue" in argv) is oom_policy
    assert argv[argv.index("--") + 1 :] == ["sh", "-c", "echo $$"]


def test_a_scoped_shims_record_carries_the_kernels_oom_kills(tmp_path: Path) -> None:
    (tmp_path / "exit").write_text("137 2\n")
    assert read_outcome(tmp_path) == Outcome(137, (tmp_path / "exit").stat().st_mtime, 2)
    (tmp_path / "exit").write_text("0\n")
    outcome = read_outcome(tmp_path)
    assert outcome is not None and (outcome.exit_code, outcome.oom_kills) == (0, 0)
    (tmp_path / "exit").write_text("137 2")  # cut off mid-write
    assert read_outcome(tmp_path) is None


def test_the_scope_shim_has_nothing_a_wrapper_would_expand() -> None:
    assert "$$" not in SCOPE_SCRIPT and "${" not in SCOPE_SCRIPT


STANDINS = Path(__file__).resolve().parents[1] / "standins"


def standin_environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": f"{STANDINS}:{os.environ['PATH']}",
        "XDG_RUNTIME_DIR": str(tmp_path),
        "EVD_CGROUP_ROOT": str(tmp_path / "cgroup"),
        **extra,
    }


def test_the_scope_is_used_where_the_probe_proves_it_holds(tmp_path: Path) -> None:
    found = detect(standin_environ(tmp_path, EVD_MEMORY_LIMITS="scope"), 1.0)
    assert (found.mechanism, found.systemd_version) == ("systemd-scope", 256)
    assert found.cgroup_root == str(tmp_path / "cgroup")
    assert found.session == {"XDG_RUNTIME_DIR": str(tmp_path)}


def test_the_sampler_is_used_where_the_scope_would_not_hold(tmp_path: Path) -> None:
    ignored = standin_environ(tmp_path, EVD_MEMORY_LIMITS="scope", STANDIN_MEMORY_MAX_IGNORED="1")
    found = detect(ignored, 1.0)
    assert found.mechanism == "sampler"
    assert "a systemd scope's MemoryMax does not hold here" in found.description


def test_scopes_are_used_only_where_they_outlive_a_logout(tmp_path: Path) -> None:
    uid, name = os.getuid(), pwd.getpwuid(os.getuid()).pw_name
    manager = f"0::/user.slice/user-{uid}.slice/user@{uid}.service/app.slice/evd.service\n"
    session = f"0::/user.slice/user-{uid}.slice/session-4.scope\n"
    assert outlives_logout({}, manager, tmp_path) is None
    assert "loginctl enable-linger" in str(outlives_logout({}, session, tmp_path))
    (tmp_path / name).touch()  # lingering
    assert outlives_logout({}, session, tmp_path) is None


def test_a_free_port_is_never_one_already_given() -> None:
    first = free_port(set())
    assert free_port({first}) != first


def test_devices_are_read_back_from_a_running_job(tmp_path: Path) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "2,3", "MASTER_PORT": "41000"}
    job = subprocess.Popen(["sleep", "5"], env=env)
    try:
        # vfork lets Popen return before exec has laid out the new environment.
        deadline = time.monotonic() + 5
        while not (variables := job_variables(job.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        job.kill()
        job.wait()
    assert devices_of(variables) == [2, 3] and variables["MASTER_PORT"] == "41000"
    assert job_variables(999_999_999) == {}
    # Where jobs are given UUIDs, they are mapped back to indexes.
    named = {"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-cc"}
    assert devices_of(named, {"GPU-aa": 0, "GPU-bb": 1, "GPU-cc": 2}) == [0, 2]


def test_a_runs_shim_is_never_taken_for_an_orphan(tmp_path: Path) -> None:
    """A run that started after the sampler read the live runs is not a leftover of anything."""
    from evd.runner.spawn import spawn  # noqa: PLC0415

    home = str(tmp_path)
    tagged = {**os.environ, "EVD_HOME": home, "EVD_RUN_ID": "7"}
    shim = spawn(tmp_path, "/", ["sleep", "30"], tagged)
    orphan = subprocess.Popen(["sleep", "30"], env=tagged)  # a tagged child that is no shim
    try:
        found = Sampler(NoProbe(), home)._orphans(set())  # the live runs read before it started
        assert shim not in found
        assert found.get(orphan.pid) == 7
    finally:
        os.killpg(shim, 9)
        os.waitpid(shim, 0)
        orphan.kill()
        orphan.wait()
