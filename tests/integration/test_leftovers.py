"""Nothing a run started outlives it, unless it says so (``--keep-children``)."""

import os
import signal
from pathlib import Path

from tests.conftest import Evd, process_gone, wait_for
from tests.helpers import show


def pid_from(path: Path) -> int:
    wait_for(lambda: path.exists() and path.read_text().strip().isdigit())
    return int(path.read_text())


def ended(evd: Evd, script: str, *flags: str) -> str:
    """Run ``sh -c script`` to its end; its run id."""
    run_id = evd.cli("run", "-q", *flags, "--", "sh", "-c", script, check=True).stdout.strip()
    evd.cli("wait", "-q", run_id, timeout=60)
    return run_id


def test_a_background_process_is_stopped_when_its_run_ends(evd: Evd, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    run_id = ended(evd, f"sleep 300 & echo $! > {pidfile}; echo started")
    pid = pid_from(pidfile)
    assert process_gone(pid)  # gone by the time the run is final
    shown = show(evd, run_id)
    assert shown["state"] == "succeeded" and shown["exit_code"] == 0
    log = evd.cli("logs", run_id, check=True).stdout
    # Named by its command line (read as it was found: `sleep 300`, or the `sh` forked to exec it).
    assert "evd: stopped 1 process the job left running: " in log and f"(pid {pid})" in log


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(evd: Evd, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    run_id = ended(evd, f"sh -c 'trap \"\" TERM; echo $$ > {pidfile}; sleep 300; :' & sleep 0.2")
    assert process_gone(pid_from(pidfile))
    log = evd.cli("logs", run_id, check=True).stdout
    assert "SIGKILL after the 1 s grace" in log


def test_a_process_that_left_the_group_is_found_and_stopped(evd: Evd, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    run_id = ended(evd, f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' & sleep 0.2")
    pid = pid_from(pidfile)
    wait_for(lambda: process_gone(pid), timeout=30)
    wait_for(lambda: "found after it ended" in evd.cli("logs", run_id).stdout, timeout=10)


def test_keep_children_leaves_them_running_and_says_so(evd: Evd, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    run_id = ended(evd, f"sleep 300 & echo $! > {pidfile}", "--keep-children")
    pid = pid_from(pidfile)
    try:
        assert not process_gone(pid)
        log = evd.cli("logs", run_id, check=True).stdout
        assert "(it keeps its children)" in log
        assert show(evd, run_id)["state"] == "succeeded"
    finally:
        os.kill(pid, signal.SIGKILL)


def test_an_orphan_that_ends_while_its_run_goes_on_is_reaped(evd: Evd, tmp_path: Path) -> None:
    """An orphan the daemon adopted (it is their subreaper) leaves no zombie behind."""
    pidfile, gate = tmp_path / "pid", tmp_path / "gate"
    orphan = f"setsid sh -c 'echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done'"
    run_id = evd.cli(
        "run", "-q", "--", "sh", "-c",
        f"({orphan} &); while [ ! -e {gate} ] || [ -e {pidfile} ]; do sleep 0.05; done",
        check=True,
    ).stdout.strip()  # fmt: skip
    pid = pid_from(pidfile)
    wait_for(
        lambda: (
            Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[1] == str(evd.daemon_pid())
        )
    )  # adopted by the daemon
    series = evd.home / "runs" / run_id / "metrics.jsonl"
    seen = series.read_text().count("\n") if series.exists() else 0
    wait_for(lambda: series.exists() and series.read_text().count("\n") > seen, timeout=30)
    gate.touch()  # the sampler has looked since the adoption: the orphan may end now
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=30)  # ended and reaped
    pidfile.unlink()
    evd.cli("wait", "-q", run_id, timeout=60)
