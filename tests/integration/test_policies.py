"""Retries, restarts, dependencies and queue timeouts against a real daemon."""

from pathlib import Path

import pytest

from tests.conftest import Evd, wait_for
from tests.helpers import fake_gpus, show, submit


@pytest.fixture
def policy_evd(evd_env: Evd) -> Evd:
    """A daemon with no --parallel cap and a short retry delay."""
    evd_env.cli("up", "--kill-grace", "1", "--retry-delay", "0.3", check=True)
    return evd_env


def fails_until(tmp_path: Path, successes_after: int, code: int = 3) -> list[str]:
    """A command that fails ``successes_after`` times, then succeeds (counting in a file)."""
    counter = tmp_path / "count"
    script = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter};"
        f' echo "attempt $n"; [ $n -gt {successes_after} ] || exit {code}'
    )
    return ["--", "sh", "-c", script]


def test_retries_run_again_until_success_and_wait_returns_the_last(
    policy_evd: Evd, tmp_path: Path
) -> None:
    run_id = submit(policy_evd, "--retries", "2", *fails_until(tmp_path, 2))
    assert policy_evd.cli("wait", run_id, timeout=60).returncode == 0
    run = show(policy_evd, run_id)
    assert run["state"] == "succeeded" and run["attempts"] == 3
    assert run["policy"] == {"retries": 2}
    reasons = [str(e["reason"]) for e in run["events"] if e["state"] == "queued"]  # type: ignore[attr-defined]
    assert any(r.startswith("retry 2 of 3 in") and "exited with code 3" in r for r in reasons)
    assert any(r.startswith("retry 3 of 3 in") for r in reasons)
    log = policy_evd.cli("logs", run_id).stdout
    assert log.splitlines() == [
        "attempt 1",
        "evd: attempt 2 of 3",
        "attempt 2",
        "evd: attempt 3 of 3",
        "attempt 3",
    ]


def test_a_run_out_of_retries_ends_with_its_last_exit_code(evd_env: Evd, tmp_path: Path) -> None:
    evd_env.cli("up", "--kill-grace", "1", "--retry-delay", "1.5", check=True)
    run_id = submit(evd_env, "--retries", "1", *fails_until(tmp_path, 5, code=4))
    # Between attempts the run is queued, saying when it goes again.
    wait_for(
        lambda: (
            show(evd_env, run_id)["state"] == "queued" and show(evd_env, run_id)["attempts"] == 1
        )
    )
    reason = str(show(evd_env, run_id)["reason"])
    assert reason.startswith("retry 2 of 2 in ") and "exited with code 4" in reason
    assert evd_env.cli("wait", run_id, timeout=60).returncode == 4
    run = show(evd_env, run_id)
    assert (run["state"], run["attempts"], run["exit_code"]) == ("failed", 2, 4)


def test_a_retry_waiting_across_a_daemon_restart_still_happens(
    evd_env: Evd, tmp_path: Path
) -> None:
    # A backoff long enough that a restart on a loaded machine falls well inside it.
    evd_env.cli("up", "--kill-grace", "1", "--retry-delay", "8", check=True)
    run_id = submit(evd_env, "--retries", "1", *fails_until(tmp_path, 1))
    wait_for(
        lambda: (
            show(evd_env, run_id)["attempts"] == 1 and show(evd_env, run_id)["state"] == "queued"
        )
    )
    evd_env.cli("down", check=True)
    evd_env.cli("up", "--kill-grace", "1", "--retry-delay", "8", check=True)
    assert str(show(evd_env, run_id)["reason"]).startswith("retry 2 of 2 in ")
    assert evd_env.cli("wait", run_id, timeout=60).returncode == 0
    assert show(evd_env, run_id)["attempts"] == 2


def test_cancel_between_attempts(evd_env: Evd, tmp_path: Path) -> None:
    evd_env.cli("up", "--kill-grace", "1", "--retry-delay", "30", check=True)
    run_id = submit(evd_env, "--retries", "3", *fails_until(tmp_path, 5))
    wait_for(
        lambda: (
            show(evd_env, run_id)["state"] == "queued" and show(evd_env, run_id)["attempts"] == 1
        )
    )
    evd_env.cli("cancel", run_id, check=True)
    assert evd_env.cli("wait", run_id).returncode == 130
    assert show(evd_env, run_id)["reason"] == "cancelled between attempts"


def test_restart_keeps_a_service_running_until_cancelled(policy_evd: Evd, tmp_path: Path) -> None:
    run_id = submit(policy_evd, "--restart", "always", "--", "sh", "-c", "echo up; sleep 0.1")
    wait_for(lambda: int(str(show(policy_evd, run_id)["attempts"])) >= 3, timeout=30)
    assert show(policy_evd, run_id)["state"] in ("queued", "running")
    policy_evd.cli("cancel", run_id, check=True)
    assert policy_evd.cli("wait", run_id, timeout=30).returncode == 130
    assert policy_evd.cli("logs", run_id).stdout.count("up\n") >= 3


def test_restart_on_failure_leaves_a_clean_exit_alone(policy_evd: Evd) -> None:
    run_id = submit(policy_evd, "--restart", "on-failure", "--", "true")
    assert policy_evd.cli("wait", run_id, timeout=30).returncode == 0
    assert show(policy_evd, run_id)["attempts"] == 1


def test_retries_and_restart_together_are_refused(policy_evd: Evd) -> None:
    result = policy_evd.cli("run", "--retries", "2", "--restart", "always", "--", "true")
    assert result.returncode != 0
    assert "do not go together" in result.stderr


def test_after_starts_a_run_once_its_dependency_succeeded(policy_evd: Evd, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    first = submit(
        policy_evd,
        "--name",
        "prepare",
        "--",
        "sh",
        "-c",
        f"while [ ! -e {gate} ]; do sleep 0.02; done",
    )
    second = submit(policy_evd, "--after", first, "--", "echo", "second ran")
    wait_for(lambda: show(policy_evd, first)["state"] == "running")
    waiting = show(policy_evd, second)
    assert waiting["state"] == "queued"
    assert waiting["reason"] == f"waiting for run {first} (prepare) to succeed"
    gate.touch()
    assert policy_evd.cli("wait", second, timeout=30).returncode == 0
    assert policy_evd.cli("logs", second).stdout == "second ran\n"


def test_a_failed_dependency_fails_its_dependants_in_a_chain(policy_evd: Evd) -> None:
    first = submit(policy_evd, "--name", "extract", "--", "sh", "-c", "sleep 0.3; exit 2")
    second = submit(policy_evd, "--after", first, "--", "echo", "never")
    third = submit(policy_evd, "--after", second, "--", "echo", "never")
    assert policy_evd.cli("wait", third, timeout=30).returncode == 125
    for run_id, dependency in ((second, first), (third, second)):
        run = show(policy_evd, run_id)
        assert (run["state"], run["failed_by"], run["started_at"]) == ("failed", "dependency", None)
        assert str(run["reason"]).startswith(f"run {dependency} (")
    assert "run 1 (extract) failed" in str(show(policy_evd, second)["reason"])
    # Depending on a run that has already failed fails at once.
    late = submit(policy_evd, "--after", first, "--", "true")
    assert show(policy_evd, late)["state"] == "failed"


def test_after_an_unknown_run_is_refused(policy_evd: Evd) -> None:
    result = policy_evd.cli("run", "--after", "999", "--", "true")
    assert result.returncode != 0 and "--after 999: no run with that id" in result.stderr
    assert policy_evd.cli("run", "--after", "x", "--", "true").returncode != 0


def test_queue_timeout_ends_a_run_that_could_not_start(evd_env: Evd, tmp_path: Path) -> None:
    fake_gpus(evd_env, 1)
    evd_env.cli("up", "--kill-grace", "1", check=True)
    gate = tmp_path / "gate"
    holder = submit(
        evd_env, "--gpus", "1", "--", "sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.02; done"
    )
    wait_for(lambda: show(evd_env, holder)["state"] == "running")
    late = submit(evd_env, "--gpus", "1", "--queue-timeout", "1s", "--", "true")
    assert evd_env.cli("wait", late, timeout=30).returncode == 124
    run = show(evd_env, late)
    assert run["state"] == "timed_out" and run["started_at"] is None
    reason = str(run["reason"])
    assert reason.startswith("did not start within its queue timeout (1.0s): needs 1 GPU")
    gate.touch()
    assert evd_env.cli("wait", holder, timeout=30).returncode == 0


def test_without_parallel_fractional_cpus_pack_beyond_the_core_count(
    policy_evd: Evd, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    hold = f"while [ ! -e {gate} ]; do sleep 0.02; done"
    ids = [submit(policy_evd, "--cpus", "0.25", "--", "sh", "-c", hold) for _ in range(6)]
    wait_for(lambda: all(show(policy_evd, i)["state"] == "running" for i in ids))
    gate.touch()
    assert policy_evd.cli("wait", *ids, timeout=30).returncode == 0


def test_a_declared_policy_applies_and_a_flag_overrides_it(
    offline_evd: Evd, tmp_path: Path
) -> None:
    env_file = tmp_path / "flaky.toml"
    env_file.write_text('name = "flaky"\nretries = 1\n')
    declared = submit(offline_evd, "--env", str(env_file), *fails_until(tmp_path, 1))
    assert offline_evd.cli("wait", declared, timeout=120).returncode == 0
    assert show(offline_evd, declared)["attempts"] == 2
    overridden = submit(offline_evd, "--env", str(env_file), "--retries", "0", "--", "false")
    assert offline_evd.cli("wait", overridden, timeout=120).returncode == 1
    assert show(offline_evd, overridden)["attempts"] == 1
    both = tmp_path / "both.toml"
    both.write_text('retries = 1\nrestart = "always"\n')
    refused = submit(offline_evd, "--env", str(both), "--", "true")
    assert "declares both retries=1 and restart='always'" in str(
        show(offline_evd, refused)["reason"]
    )
