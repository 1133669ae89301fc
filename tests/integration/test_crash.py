"""`kill -9` the daemon mid-flight, start it again, and account for every run."""

from __future__ import annotations

import io
import os
import signal
import sys
import tarfile
from pathlib import Path

from evd.models import RunState, SubmitRequest, parse_iso
from tests.conftest import Evd, process_gone, wait_for


def crash(evd: Evd) -> None:
    pid = evd.daemon_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: process_gone(pid))


def test_kill_9_with_jobs_running_and_waiting(evd: Evd, tmp_path: Path) -> None:
    gate = tmp_path / "gate"  # `long` runs on until the new daemon has adopted it
    ticker = (
        f"echo tick-1; while [ ! -e {gate} ]; do sleep 0.05; done;"
        " for i in 2 3 4 5 6 7 8; do echo tick-$i; sleep 0.05; done"
    )
    with evd.client() as client:
        long = client.submit(SubmitRequest(command=["sh", "-c", ticker], cwd="/", name="long"))
        short = client.submit(
            SubmitRequest(command=["sh", "-c", "sleep 0.4; exit 7"], cwd="/", name="short")
        )
        queued = [
            client.submit(SubmitRequest(command=["echo", f"queued-{i}"], cwd="/")) for i in range(3)
        ]
    assert [r.state for r in queued] == [RunState.QUEUED] * 3
    wait_for(lambda: b"tick-1" in Path(long.log_path).read_bytes())

    crash(evd)
    # While no daemon runs, `short` ends and `long` goes on under its shim.
    wait_for((Path(short.log_path).parent / "exit").exists)
    assert long.pid is not None and os.path.exists(f"/proc/{long.pid}")
    evd.up()

    with evd.client() as client:
        adopted = client.get_run(long.id)
        assert adopted.state is RunState.RUNNING and adopted.pid == long.pid
        gate.touch()
        followed = b"".join(client.logs(long.id, follow=True))  # the re-adopted log still follows
        assert followed.endswith(b"tick-8\n")
        finals = {
            run_id: client.wait(run_id, timeout=30)
            for run_id in [long.id, short.id, *(q.id for q in queued)]
        }

    assert finals[long.id].state is RunState.SUCCEEDED and finals[long.id].exit_code == 0
    ended = finals[short.id]
    assert (ended.state, ended.exit_code, ended.reason) == (
        RunState.FAILED,
        7,
        "exited with code 7",
    )
    # Its real end time, from the shim, not the time the new daemon noticed.
    assert parse_iso(ended.ended_at or "") - parse_iso(ended.started_at or "") < 1.5
    for run in queued:
        assert finals[run.id].state is RunState.SUCCEEDED
    assert evd.client().list_runs(states=[RunState.QUEUED, RunState.RUNNING]) == []
    assert len(evd.client().list_runs()) == 5


STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('ready', flush=True); time.sleep(60)"
)


def test_a_cancel_cut_short_by_a_crash_is_finished_after_restart(evd: Evd) -> None:
    with evd.client() as client:
        run = client.submit(SubmitRequest(command=[sys.executable, "-c", STUBBORN], cwd="/"))
        wait_for(lambda: b"ready" in Path(run.log_path).read_bytes())
        assert client.cancel(run.id).state is RunState.RUNNING  # SIGTERM ignored, grace running
    crash(evd)
    assert run.pid is not None and os.path.exists(f"/proc/{run.pid}")
    evd.up()
    final = evd.client().wait(run.id, timeout=30)
    assert final.state is RunState.CANCELLED
    wait_for(lambda: not os.path.exists(f"/proc/{run.pid}"), timeout=5)


def test_a_job_killed_while_no_daemon_watched_is_lost_with_a_reason(evd: Evd) -> None:
    with evd.client() as client:
        run = client.submit(SubmitRequest(command=["sleep", "60"], cwd="/"))
    crash(evd)
    assert run.pid is not None
    os.killpg(run.pid, signal.SIGKILL)  # shim and job die together: no exit record
    wait_for(lambda: not os.path.exists(f"/proc/{run.pid}"))
    evd.up()
    final = evd.client().get_run(run.id)
    assert final.state is RunState.LOST
    assert final.reason is not None and "ended without recording an exit status" in final.reason
    assert final.failed_by is not None and final.failed_by.value == "machine"
    assert evd.cli("wait", str(run.id)).returncode == 125


def test_down_leaves_jobs_running_and_up_readopts_them(evd: Evd) -> None:
    with evd.client() as client:
        run = client.submit(SubmitRequest(command=["sh", "-c", "sleep 0.8; echo done"], cwd="/"))
    evd.cli("down", check=True)
    assert run.pid is not None and os.path.exists(f"/proc/{run.pid}")
    evd.up()
    final = evd.client().wait(run.id, timeout=30)
    assert final.state is RunState.SUCCEEDED
    assert Path(final.log_path).read_text() == "done\n"


SLOW_BACKEND = """
import os, time, zipfile

METADATA = "Metadata-Version: 2.1\\nName: evdtest-slow\\nVersion: 1.0\\n"
WHEEL = "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    time.sleep(float(os.environ.get("EVDTEST_BUILD_SECONDS", "3")))
    name = "evdtest_slow-1.0-py3-none-any.whl"
    info = "evdtest_slow-1.0.dist-info"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        wheel.writestr("evdtest_slow/__init__.py", "VERSION = '1.0'\\n")
        wheel.writestr(f"{info}/METADATA", METADATA)
        wheel.writestr(f"{info}/WHEEL", WHEEL)
        wheel.writestr(f"{info}/RECORD", "")
    return name
"""


def slow_sdist(folder: Path) -> None:
    """A source package whose (dependency-free, in-tree) build backend takes 3 s."""
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n[project]\nname = "evdtest-slow"\nversion = "1.0"\n',
        "backend.py": f"# {folder}\n{SLOW_BACKEND}",  # new to uv's cache: really built
        "PKG-INFO": "Metadata-Version: 2.1\nName: evdtest-slow\nVersion: 1.0\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "evdtest_slow-1.0.tar.gz", "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"evdtest_slow-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_kill_9_during_a_build_builds_again_after_restart(
    offline_evd: Evd, wheels: Path, tmp_path: Path
) -> None:
    slow_sdist(wheels)
    job = tmp_path / "slow.py"
    job.write_text(
        "# /// script\n# dependencies = ['evdtest-slow==1.0']\n# ///\n"
        "import evdtest_slow\nprint('slow', evdtest_slow.VERSION)\n"
    )
    with offline_evd.client() as client:
        run = client.submit(SubmitRequest(file=str(job), cwd=str(tmp_path)))
        assert run.state is RunState.BUILDING
    build_log = Path(run.log_path).parent / "build.log"
    wait_for(lambda: build_log.exists() and "uv pip install" in build_log.read_text())
    crash(offline_evd)
    offline_evd.up()
    with offline_evd.client() as client:
        final = client.wait(run.id, timeout=60)
        log = b"".join(client.logs(run.id)).decode()
        events = client.get_run(run.id).events
    assert final.state is RunState.SUCCEEDED, final.reason
    assert log.strip() == "slow 1.0"
    assert events is not None
    reasons = [e.reason or "" for e in events if e.state is RunState.BUILDING]
    assert reasons[-1].endswith("again after a restart")
    venvs = [p for p in (offline_evd.home / "envs").iterdir() if p.is_dir()]
    assert all((p / "evd-env.json").exists() for p in venvs)


def test_a_build_dies_with_its_daemon(offline_evd: Evd, wheels: Path, tmp_path: Path) -> None:
    slow_sdist(wheels)
    job = tmp_path / "slow.py"
    job.write_text("# /// script\n# dependencies = ['evdtest-slow==1.0']\n# ///\n")
    with offline_evd.client() as client:
        run = client.submit(SubmitRequest(file=str(job), cwd=str(tmp_path)))
    build_log = Path(run.log_path).parent / "build.log"
    wait_for(lambda: build_log.exists() and "uv pip install" in build_log.read_text())
    daemon = offline_evd.daemon_pid()
    builders: list[int] = []

    def uv_started() -> bool:
        builders[:] = [
            int(pid)
            for pid in os.listdir("/proc")
            if pid.isdigit() and _parent_of(int(pid)) == daemon
        ]
        return bool(builders)

    wait_for(uv_started)  # the log line is written just before uv starts
    crash(offline_evd)
    for pid in builders:
        # Well before its 3 s build could end by itself.
        wait_for(lambda pid=pid: process_gone(pid), timeout=1.5)  # type: ignore[misc]


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
