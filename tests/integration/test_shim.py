"""The shim with real processes: what it records and how signals reach the job."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from evd.runner.outcome import read_outcome
from evd.runner.shim import LOG_FILE, is_shim_of, read_shim_pid
from evd.runner.spawn import SpawnError, check_startable, spawn
from tests.conftest import wait_for

PY = sys.executable


def run_to_end(run_dir: Path, command: list[str], cwd: str = "/") -> int:
    pid = spawn(run_dir, cwd, command, dict(os.environ))
    os.waitpid(pid, 0)
    outcome = read_outcome(run_dir)
    assert outcome is not None
    return outcome.exit_code


def test_records_the_exit_code_and_interleaved_output(tmp_path: Path) -> None:
    code = run_to_end(tmp_path, ["sh", "-c", "echo one; echo two >&2; echo three; exit 7"])
    assert code == 7
    assert (tmp_path / LOG_FILE).read_text() == "one\ntwo\nthree\n"
    assert (tmp_path / "exit").read_text() == "7\n"


def test_runs_in_the_working_dir_in_its_own_session(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run_to_end(
        tmp_path,
        [PY, "-c", "import os; print(os.getcwd(), os.getsid(0) == os.getpgid(0))"],
        cwd=str(work),
    )
    assert (tmp_path / LOG_FILE).read_text().split() == [str(work), "True"]


def test_job_has_default_signal_dispositions(tmp_path: Path) -> None:
    # SigIgn: no ignored signals but those Python itself ignores at start-up are absent here.
    run_to_end(tmp_path, ["sh", "-c", "grep SigIgn /proc/self/status"])
    ignored = int((tmp_path / LOG_FILE).read_text().split()[1], 16)
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGTERM, signal.SIGHUP):
        assert not ignored & (1 << (sig - 1)), f"{sig.name} is ignored in the job"


JOB_COUNTS_TERMS = """
import signal, sys, time
count = 0
def on_term(*_):
    global count
    count += 1
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
deadline = time.time() + 10
while time.time() < deadline and count == 0:
    time.sleep(0.01)
time.sleep(0.3)  # would catch a second delivery
print("terms", count, flush=True)
sys.exit(4)
"""


def signal_when_ready(run_dir: Path, command: list[str], sig: signal.Signals) -> tuple[str, int]:
    """Start ``command``, wait for "ready", signal its group; return (log, exit code)."""
    pid = spawn(run_dir, "/", command, dict(os.environ))
    wait_for(lambda: "ready" in (run_dir / LOG_FILE).read_text())
    os.killpg(pid, sig)
    os.waitpid(pid, 0)
    outcome = read_outcome(run_dir)
    assert outcome is not None
    return (run_dir / LOG_FILE).read_text(), outcome.exit_code


def test_a_signal_to_the_group_reaches_the_job_once_and_the_shim_records_it(tmp_path: Path) -> None:
    log, code = signal_when_ready(tmp_path, [PY, "-c", JOB_COUNTS_TERMS], signal.SIGTERM)
    assert "terms 1" in log
    assert code == 4


def test_sigint_interrupts_a_python_job(tmp_path: Path) -> None:
    sleeper = "print('ready', flush=True); import time; time.sleep(30)"
    log, code = signal_when_ready(tmp_path, [PY, "-c", sleeper], signal.SIGINT)
    assert "KeyboardInterrupt" in log
    assert code == 130


def test_sigkill_leaves_no_record(tmp_path: Path) -> None:
    pid = spawn(tmp_path, "/", ["sleep", "30"], dict(os.environ))
    wait_for(lambda: read_shim_pid(tmp_path) == pid)
    assert is_shim_of(pid, tmp_path)
    assert not is_shim_of(pid, tmp_path / "other")
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert read_outcome(tmp_path) is None
    assert not is_shim_of(pid, tmp_path)


def test_a_half_written_record_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "exit").write_text("1")  # no newline: the shim died mid-write
    assert read_outcome(tmp_path) is None


def test_missing_program_or_dir_is_caught_before_spawning(tmp_path: Path) -> None:
    env = dict(os.environ)
    for command, cwd, message in (
        (["no-such-program-xyz"], "/", "program not found: no-such-program-xyz"),
        (["./missing.sh"], str(tmp_path), "program not found: ./missing.sh"),
        (["true"], str(tmp_path / "gone"), "working directory not found"),
    ):
        try:
            check_startable(command, cwd, env)
        except SpawnError as error:
            assert message in str(error)
        else:
            raise AssertionError(f"{command} in {cwd} passed the check")
    check_startable(["true"], "/", env)
