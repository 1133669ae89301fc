"""Submitting and running jobs through the real daemon, the client and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from evd.models import RunState, SubmitRequest, parse_iso
from tests.conftest import Evd, process_gone, wait_for


def test_run_a_command_and_read_its_log(evd: Evd, tmp_path: Path) -> None:
    run_id = int(
        evd.cli("run", "-q", "--", "sh", "-c", "echo out; echo err >&2", check=True).stdout
    )
    wait = evd.cli("wait", str(run_id))
    assert wait.returncode == 0 and f"run {run_id} (sh) succeeded" in wait.stdout
    assert evd.cli("logs", str(run_id)).stdout == "out\nerr\n"
    shown = json.loads(evd.cli("show", str(run_id), "--json", check=True).stdout)
    for key in (
        "id",
        "name",
        "state",
        "reason",
        "exit_code",
        "attempts",
        "gpus",
        "progress",
        "env",
        "created_at",
        "started_at",
        "ended_at",
    ):
        assert key in shown
    assert (shown["state"], shown["exit_code"], shown["attempts"], shown["progress"]) == (
        "succeeded",
        0,
        1,
        1.0,
    )
    assert [e["state"] for e in shown["events"]] == ["queued", "running", "succeeded"]
    assert (
        parse_iso(shown["created_at"])
        <= parse_iso(shown["started_at"])
        <= parse_iso(shown["ended_at"])
    )


def test_the_job_gets_the_callers_cwd_and_environment(evd: Evd, tmp_path: Path) -> None:
    env = {**evd.env, "EVD_TEST_MARK": "hello"}
    result = __import__("subprocess").run(
        [
            __import__("sys").executable,
            "-m",
            "evd",
            "run",
            "-f",
            "--",
            "sh",
            "-c",
            'echo "$PWD $EVD_TEST_MARK $EVD_RUN_ID"',
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    cwd, mark, run_id = result.stdout.split()
    assert (cwd, mark) == (str(tmp_path), "hello") and int(run_id) >= 1


def test_follow_streams_and_exits_with_the_jobs_code(evd: Evd) -> None:
    result = evd.cli("run", "-f", "--", "sh", "-c", "echo start; sleep 0.3; echo end; exit 3")
    assert result.returncode == 3
    assert result.stdout == "start\nend\n"
    assert "exited with code 3" in result.stderr


def test_run_a_python_file_with_arguments(evd: Evd, tmp_path: Path) -> None:
    job = tmp_path / "hello.py"
    job.write_text("import sys\nprint('args', sys.argv[1:])\n")
    result = subprocess.run(
        [sys.executable, "-m", "evd", "run", "-f", "hello.py", "--flag", "x"],
        cwd=tmp_path,
        env=evd.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "args ['--flag', 'x']\n"
    assert evd.client().list_runs(limit=1)[0].name == "hello.py"


def test_wait_exit_codes_for_runs_without_one(evd: Evd) -> None:
    missing = int(evd.cli("run", "-q", "--", "no-such-program-xyz", check=True).stdout)
    result = evd.cli("wait", str(missing))
    assert result.returncode == 125
    run = evd.client().get_run(missing)
    assert (run.state, run.reason, run.exit_code) == (
        RunState.FAILED,
        "program not found: no-such-program-xyz",
        None,
    )

    timed = int(evd.cli("run", "-q", "--timeout", "0.3s", "--", "sleep", "30", check=True).stdout)
    assert evd.cli("wait", str(timed)).returncode == 124
    run = evd.client().get_run(timed)
    assert run.state is RunState.TIMED_OUT and run.reason == "timed out after 300ms"

    cancelled = int(evd.cli("run", "-q", "--", "sleep", "30", check=True).stdout)
    assert evd.cli("cancel", str(cancelled)).returncode == 0
    assert evd.cli("wait", str(cancelled)).returncode == 130

    failed = int(evd.cli("run", "-q", "--", "sh", "-c", "exit 9", check=True).stdout)
    ok = int(evd.cli("run", "-q", "--", "true", check=True).stdout)
    assert evd.cli("wait", str(ok), str(failed)).returncode == 9  # the last one's code
    assert evd.cli("wait", str(failed), str(ok)).returncode == 0


def test_at_most_parallel_jobs_run_and_the_rest_wait_in_order(evd: Evd, tmp_path: Path) -> None:
    with evd.client() as client:
        ids = [client.submit(SubmitRequest(command=["sleep", "0.4"], cwd="/")).id for _ in range(5)]
        queued = client.get_run(ids[4])
        assert queued.state is RunState.QUEUED
        assert (
            queued.reason is not None
            and "2 of 2 slots busy" in queued.reason
            and "2 ahead" in queued.reason
        )
        runs = [client.wait(run_id, timeout=30) for run_id in ids]
    spans = [(parse_iso(r.started_at or ""), parse_iso(r.ended_at or "")) for r in runs]
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2
    starts = [start for start, _ in spans]
    assert starts == sorted(starts)


def test_priority_jumps_the_queue(evd: Evd) -> None:
    with evd.client() as client:
        blockers = [
            client.submit(SubmitRequest(command=["sleep", "0.5"], cwd="/")).id for _ in range(2)
        ]
        low = client.submit(SubmitRequest(command=["true"], cwd="/")).id
        high = client.submit(SubmitRequest(command=["true"], cwd="/", priority=10)).id
        low_run, high_run = client.wait(low, timeout=30), client.wait(high, timeout=30)
        for run_id in blockers:
            client.wait(run_id, timeout=30)
    assert parse_iso(high_run.started_at or "") < parse_iso(low_run.started_at or "")


IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
TERM_IGNORING_TREE = f"""
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", {IGNORE_TERM!r}])
escaped = subprocess.Popen(["sleep", "61"], start_new_session=True)
print(child.pid, escaped.pid, flush=True)
time.sleep(60)
"""


def test_cancel_leaves_nothing_of_the_job_alive(evd: Evd, tmp_path: Path) -> None:
    job = tmp_path / "stubborn.py"
    job.write_text(TERM_IGNORING_TREE)
    with evd.client() as client:
        run = client.submit(
            SubmitRequest(command=[sys.executable, str(job)], cwd="/", name="stubborn")
        )
        log = Path(run.log_path)
        wait_for(lambda: log.exists() and len(log.read_text().split()) == 2)
        pids = [int(p) for p in log.read_text().split()] + [run.pid or 0]
        cancel = evd.cli("cancel", str(run.id))
        assert (
            cancel.returncode == 0
            and f"run {run.id} (stubborn) cancelled: cancelled while running" in cancel.stdout
        )
        final = client.get_run(run.id)
    assert final.state is RunState.CANCELLED and final.failed_by is None

    wait_for(lambda: all(process_gone(pid) for pid in pids), timeout=5)


def test_cancel_a_queued_run_and_refuse_to_cancel_a_finished_one(evd: Evd) -> None:
    with evd.client() as client:
        for _ in range(2):
            client.submit(SubmitRequest(command=["sleep", "2"], cwd="/"))
        queued = client.submit(SubmitRequest(command=["true"], cwd="/"))
        cancelled = client.cancel(queued.id)
        assert (cancelled.state, cancelled.reason, cancelled.started_at) == (
            RunState.CANCELLED,
            "cancelled before it started",
            None,
        )
    again = evd.cli("cancel", str(queued.id))
    assert again.returncode == 1 and "already cancelled; nothing to cancel" in again.stderr
    unknown = evd.cli("cancel", "999999")
    assert unknown.returncode == 1 and "no run with id 999999" in unknown.stderr


def test_ps_lists_active_runs_and_all_with_json(evd: Evd) -> None:
    with evd.client() as client:
        done = client.submit(SubmitRequest(command=["true"], cwd="/"))
        client.wait(done.id)
        running = client.submit(SubmitRequest(command=["sleep", "5"], cwd="/", name="napper"))
    active = evd.cli("ps", check=True).stdout
    assert "napper" in active and "running" in active and f"\n{done.id} " not in active
    listed = json.loads(evd.cli("ps", "--all", "--json", check=True).stdout)
    assert [item["id"] for item in listed] == [running.id, done.id]
    evd.client().cancel(running.id)


def test_log_is_capped_keeping_head_and_tail(evd_env: Evd) -> None:
    evd_env.up("--log-limit", "64KiB")
    script = "for i in $(seq 1 20000); do echo line-$i; done"
    with evd_env.client() as client:
        run = client.wait(
            client.submit(SubmitRequest(command=["sh", "-c", script], cwd="/")).id, timeout=30
        )
    data = Path(run.log_path).read_bytes()
    assert len(data) <= 64 * 1024
    assert data.startswith(b"line-1\nline-2\n")
    assert data.endswith(b"line-20000\n")
    assert b"bytes cut here]" in data


def test_prune_removes_old_finished_runs_only(evd: Evd) -> None:
    with evd.client() as client:
        done = client.wait(client.submit(SubmitRequest(command=["true"], cwd="/")).id)
        active = client.submit(SubmitRequest(command=["sleep", "5"], cwd="/"))
    assert (
        evd.cli("prune", "--older-than", "30d", check=True).stdout == "removed 0 finished run(s)\n"
    )
    time.sleep(0.05)
    assert (
        evd.cli("prune", "--older-than", "0s", check=True).stdout == "removed 1 finished run(s)\n"
    )
    assert not os.path.exists(Path(done.log_path).parent)
    assert evd.cli("show", str(done.id)).returncode == 1
    assert evd.client().get_run(active.id).state is RunState.RUNNING
    evd.client().cancel(active.id)
