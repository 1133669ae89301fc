"""Memory limits under ``systemd-run --user --scope``, through a stand-in for systemd-run.

These machines have no systemd user manager, so ``tests/standins/systemd-run``
plays it, in the ways evd depends on (see its docstring): it expands ``$`` in
the command unless told not to, refuses options newer than its version, needs
``XDG_RUNTIME_DIR``, writes the scope's ``memory.max`` and ``memory.events``
under ``EVD_CGROUP_ROOT``, and execs the command in place.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import REPO, Evd, process_gone, wait_for
from tests.helpers import show, submit

STANDINS = REPO / "tests" / "standins"


def scope_daemon(evd_env: Evd, tmp_path: Path, version: int = 256) -> Evd:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    evd_env.env.update(
        {
            "PATH": f"{STANDINS}:{evd_env.env['PATH']}",
            "EVD_MEMORY_LIMITS": "scope",  # no user manager to check for: the stand-in is it
            "XDG_RUNTIME_DIR": str(runtime),
            "EVD_CGROUP_ROOT": str(tmp_path / "cgroup"),
            "STANDIN_SYSTEMD_VERSION": str(version),
        }
    )
    evd_env.cli("up", "--kill-grace", "1", check=True)
    limits = evd_env.client().gpus()["memory_limits"]
    assert limits["mechanism"] == "systemd-scope", limits
    return evd_env


def submitted_with(evd: Evd, env: dict[str, str], *args: str) -> str:
    """``evd run -q ARGS`` from a shell whose environment is ``env``."""
    return submit(dataclasses.replace(evd, env=env), *args)


@pytest.mark.parametrize("version", [256, 252])
def test_a_jobs_words_reach_it_unchanged_under_the_scope(
    evd_env: Evd, tmp_path: Path, version: int
) -> None:
    # 256 expands $ by default; 252 knows neither --expand-environment nor OOMPolicy.
    evd = scope_daemon(evd_env, tmp_path, version)
    words = ["$HOME", "$$", "${HOME}", "a b"]
    script = 'printf "%s|" "$@"'
    run_id = submit(evd, "--memory", "100MiB", "--", "sh", "-c", script, "sh", *words)
    assert evd.cli("wait", run_id, timeout=30).returncode == 0
    assert evd.cli("logs", run_id).stdout == "$HOME|$$|${HOME}|a b|"


def running_when_crashed(evd: Evd, tmp_path: Path, *options: str) -> tuple[str, Path]:
    """A run that notes each start and holds until ``gate`` exists, running as evd is killed."""
    starts, gate = tmp_path / "starts", tmp_path / "gate"
    hold = f"echo started >> {starts}; while [ ! -e {gate} ]; do sleep 0.05; done"
    run_id = submit(evd, *options, "--", "sh", "-c", hold)
    wait_for(lambda: starts.exists() and show(evd, run_id)["state"] == "running")
    crash(evd)
    return run_id, gate


def finishes_having_started_once(evd: Evd, run_id: str, gate: Path) -> None:
    assert show(evd, run_id)["state"] == "running"  # adopted
    gate.touch()
    assert evd.cli("wait", run_id, timeout=30).returncode == 0
    assert (gate.parent / "starts").read_text() == "started\n"  # once


def test_a_scoped_run_is_readopted_after_a_crash_not_started_again(
    evd_env: Evd, tmp_path: Path
) -> None:
    evd = scope_daemon(evd_env, tmp_path)
    run_id, gate = running_when_crashed(evd, tmp_path, "--memory", "100MiB")
    evd.up()
    finishes_having_started_once(evd, run_id, gate)


def test_an_oom_kill_in_the_scope_reads_as_over_the_memory_limit(
    evd_env: Evd, tmp_path: Path
) -> None:
    evd = scope_daemon(evd_env, tmp_path)
    # The kernel kills the job for memory: the scope's memory.events counts it.
    env = {**evd.env, "STANDIN_OOM_KILLS": "1"}
    run_id = submitted_with(evd, env, "--memory", "100MiB", "--", "sh", "-c", "kill -9 $$")
    assert evd.cli("wait", run_id, timeout=30).returncode == 137
    run = show(evd, run_id)
    assert (run["state"], run["failed_by"]) == ("failed", "user")
    assert str(run["reason"]).startswith(
        "exceeded its memory limit of 0.10 GiB (the kernel killed 1 process;"
    )


def test_a_job_submitted_without_xdg_runtime_dir_still_runs(evd_env: Evd, tmp_path: Path) -> None:
    evd = scope_daemon(evd_env, tmp_path)
    cron_like = {k: v for k, v in evd.env.items() if k != "XDG_RUNTIME_DIR"}
    run_id = submitted_with(evd, cron_like, "--memory", "100MiB", "--", "echo", "ran")
    assert evd.cli("wait", run_id, timeout=30).returncode == 0
    assert evd.cli("logs", run_id).stdout == "ran\n"


def test_a_wrapper_that_fails_before_the_job_fails_the_run_in_its_words(
    evd_env: Evd, tmp_path: Path
) -> None:
    evd = scope_daemon(evd_env, tmp_path)
    env = {**evd.env, "STANDIN_FAIL": "Failed to start transient scope unit: Access denied"}
    run_id = submitted_with(evd, env, "--memory", "100MiB", "--", "echo", "never")
    assert evd.cli("wait", run_id, timeout=30).returncode == 125
    run = show(evd, run_id)
    assert (run["state"], run["failed_by"]) == ("failed", "evd")
    assert str(run["reason"]) == (
        "systemd-run, which gives the job its memory limit, failed before the job started:"
        " Failed to start transient scope unit: Access denied"
    )


def test_a_run_whose_shim_pid_is_unreadable_is_found_by_its_command_line(
    evd: Evd, tmp_path: Path
) -> None:
    """What a shim under an expanding wrapper once wrote ("$"): the run is adopted, not rerun."""
    run_id, gate = running_when_crashed(evd, tmp_path)
    (evd.state.run_dir(int(run_id)) / "shim.pid").write_text("$\n")
    evd.up()
    finishes_having_started_once(evd, run_id, gate)


def test_a_run_that_may_have_started_is_never_started_again(evd: Evd, tmp_path: Path) -> None:
    """No readable pid, no shim alive, no exit record: lost, with the reason; not queued."""
    gate = tmp_path / "gate"
    run_id = submit(evd, "--", "sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.05; done")
    wait_for(lambda: show(evd, run_id)["state"] == "running")
    shim = int(str(show(evd, run_id)["pid"]))
    crash(evd)
    os.killpg(shim, signal.SIGKILL)  # shim and job die together: no exit record
    wait_for(lambda: process_gone(shim))
    (evd.state.run_dir(int(run_id)) / "shim.pid").write_text("$\n")
    evd.up()
    run = show(evd, run_id)
    assert (run["state"], run["failed_by"]) == ("lost", "evd"), run
    assert "unreadable pid ('$')" in str(run["reason"])
    assert "does not start it again" in str(run["reason"])


def crash(evd: Evd) -> None:
    pid = evd.daemon_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: process_gone(pid))
