"""Preemption: a run of higher priority stops preemptible runs of lower priority, which resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Evd, wait_for
from tests.helpers import fake_gpus, show, submit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def one_gpu(evd_env: Evd) -> Evd:
    """A daemon with one (fake) GPU whose preemptible runs may be preempted at once."""
    evd_env.home.mkdir(parents=True, exist_ok=True)
    (evd_env.home / "config.toml").write_text("[resources]\nmin_run_time = 0\n")
    fake_gpus(evd_env, 1)
    evd_env.up()
    return evd_env


def log_of(evd: Evd, run_id: str) -> str:
    return Path(show(evd, run_id)["log_path"]).read_text()


def test_a_preempted_run_checkpoints_waits_and_resumes(one_gpu: Evd) -> None:
    evd = one_gpu
    example = str(EXAMPLES / "checkpoint.py")
    low = submit(evd, "--gpus", "1", "--retries", "1", example, "--steps", "400", "--pause", "0.05")
    wait_for(lambda: "step 100" in log_of(evd, low), timeout=60)
    urgent = submit(evd, "--gpus", "1", "--priority", "10", "--", "sleep", "1")
    wait_for(lambda: show(evd, urgent)["state"] in ("running", "succeeded"), timeout=60)
    run = show(evd, low)
    assert run["state"] in ("queued", "running")  # queued again (or already resumed)
    history = [(e["state"], e["reason"]) for e in run["events"]]
    assert ("queued", f"preempted by run {urgent}") in history
    assert "asked to stop: saved step" in log_of(evd, low)
    assert evd.cli("wait", urgent, low, timeout=120).returncode == 0
    result = json.loads(evd.cli("result", low, check=True).stdout)
    assert result["steps"] == 400 and result["started_at_step"] >= 100  # from its checkpoint
    assert "preempted before: resuming at step" in log_of(evd, low)
    run = show(evd, low)
    assert run["state"] == "succeeded" and run["attempts"] == 1  # the preemption did not count
    assert "again: run" in log_of(evd, low)


def test_runs_that_are_not_preemptible_or_not_lower_are_left_alone(one_gpu: Evd) -> None:
    evd = one_gpu
    steady = submit(evd, "--gpus", "1", "--", "sleep", "30")
    wait_for(lambda: show(evd, steady)["state"] == "running", timeout=60)
    urgent = submit(evd, "--gpus", "1", "--priority", "10", "--", "true")
    peer = submit(evd, "--gpus", "1", "--preemptible", "--", "sleep", "30")
    assert show(evd, steady)["state"] == "running" and show(evd, urgent)["state"] == "queued"
    evd.cli("cancel", urgent, check=True)  # first: once steady ends it would start and end
    evd.cli("cancel", steady, check=True)
    wait_for(lambda: show(evd, peer)["state"] == "running", timeout=60)
    same = submit(evd, "--gpus", "1", "--preemptible", "--", "true")  # same priority: waits
    assert show(evd, same)["state"] == "queued"
    assert show(evd, peer)["state"] == "running"
    assert "preempted" not in log_of(evd, peer)
    evd.cli("cancel", same, check=True)  # first: once peer ends it would start and end
    evd.cli("cancel", peer, check=True)


def test_a_preemptible_run_borrows_on_its_estimate_and_gives_it_back(evd_env: Evd) -> None:
    """Backfill on an estimate: the loan is taken back the moment the blocked head would fit."""
    fake_gpus(evd_env, 2)
    evd_env.up()
    evd = evd_env
    length = evd.home / "length"
    length.write_text("0.1")
    job = ("--gpus", "1", "--preemptible", "--", "sh", "-c", f"sleep $(cat {length})")
    assert evd.cli("wait", submit(evd, *job), timeout=60).returncode == 0  # its history
    holder = submit(evd, "--gpus", "1", "--timeout", "300", "--", "sleep", "300")
    wait_for(lambda: show(evd, holder)["state"] == "running", timeout=60)
    head = submit(evd, "--gpus", "2", "--", "true")  # keeps the idle GPU for itself
    length.write_text("300")  # the estimate (0.1 s) is wrong this time
    loan = submit(evd, *job)
    wait_for(lambda: show(evd, loan)["state"] == "running", timeout=60)
    steady = submit(evd, "--gpus", "1", "--", "sleep", "300")  # not preemptible: no loan
    assert show(evd, head)["state"] == "queued" and show(evd, steady)["state"] == "queued"

    evd.cli("cancel", steady, holder, check=True)  # now the head fits, but for the loan
    assert evd.cli("wait", head, timeout=60).returncode == 0
    run = show(evd, loan)
    history = [(e["state"], e["reason"]) for e in run["events"]]
    assert ("queued", f"preempted by run {head}") in history
    assert run["attempts"] <= 1  # taking a loan back is not a failed attempt
    assert "started on what a waiting run keeps" in log_of(evd, loan)
    assert "borrowed what that run waits for" in log_of(evd, loan)
    evd.cli("cancel", loan, check=True)


def test_the_urgent_run_says_which_run_is_being_stopped_for_it(evd_env: Evd) -> None:
    evd_env.home.mkdir(parents=True, exist_ok=True)
    (evd_env.home / "config.toml").write_text("[resources]\nmin_run_time = 0\n")
    fake_gpus(evd_env, 1)
    evd_env.up("--kill-grace", "5")  # the window in which the reason is read, on a busy machine
    evd = evd_env
    stubborn = ("--", "sh", "-c", "trap '' TERM; sleep 60")  # waits out the grace period
    low = submit(evd, "--gpus", "1", "--preemptible", *stubborn)
    wait_for(lambda: show(evd, low)["state"] == "running", timeout=60)
    urgent = submit(evd, "--gpus", "1", "--priority", "5", "--", "true")
    wait_for(lambda: f"preempting run {low} (" in (show(evd, urgent)["reason"] or ""), 30)
    assert evd.cli("wait", urgent, timeout=120).returncode == 0
    evd.cli("cancel", low, check=True)
