"""Run policies as pure functions: retries, restarts, backoff, dependencies, queue deadlines."""

from typing import Any

from evd.models import FailedBy, RunState
from evd.policy import (
    MAX_BACKOFF,
    Policy,
    backoff,
    dependency_block,
    describe_again,
    queue_deadline,
    run_again,
)


def decide(policy: Policy, attempts: int, state: RunState = RunState.FAILED, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "failed_by": FailedBy.USER if state is not RunState.SUCCEEDED else None,
        "stopped": None,
        "outcome": "exited with code 3",
        "quick_ends": 1,
        "base": 2.0,
    }
    args.update(kw)
    return run_again(policy, attempts=attempts, state=state, **args)


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    assert [backoff(2.0, step) for step in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff(2.0, 30) == MAX_BACKOFF


def test_retries_two_gives_three_attempts_then_stops() -> None:
    policy = Policy(retries=2)
    first = decide(policy, attempts=1)
    second = decide(policy, attempts=2)
    assert (first.attempt, first.of, first.delay) == (2, 3, 2.0)
    assert (second.attempt, second.of, second.delay) == (3, 3, 4.0)
    assert decide(policy, attempts=3) is None
    assert describe_again(first, 1.6) == "retry 2 of 3 in 2 s; attempt 1 exited with code 3"


def test_what_is_retried_and_what_is_not() -> None:
    policy = Policy(retries=1)
    assert decide(policy, 1, RunState.TIMED_OUT) is not None
    assert decide(policy, 1, RunState.LOST, failed_by=FailedBy.MACHINE) is not None
    assert decide(policy, 1, RunState.SUCCEEDED) is None
    assert decide(policy, 1, RunState.CANCELLED, failed_by=None) is None
    assert decide(policy, 1, stopped="cancel") is None
    # Before the job's code ran, another attempt would fail the same way.
    assert decide(policy, 1, failed_by=FailedBy.BUILD) is None
    assert decide(policy, 1, failed_by=FailedBy.DEPENDENCY) is None
    assert decide(Policy(), 1) is None


def test_services_restart_until_cancelled_with_backoff_that_resets() -> None:
    on_failure = Policy(restart="on-failure")
    always = Policy(restart="always")
    assert decide(on_failure, 40, quick_ends=3).delay == 8.0
    assert decide(on_failure, 40, quick_ends=3).of is None
    assert decide(on_failure, 5, RunState.SUCCEEDED) is None
    restarted = decide(always, 5, RunState.SUCCEEDED, outcome="succeeded")
    assert restarted.attempt == 6 and restarted.delay == 2.0
    assert describe_again(restarted, 2).startswith("restart (attempt 6) in 2 s")
    assert decide(always, 5, RunState.FAILED, stopped="cancel") is None


def test_dependencies_wait_for_success_and_fail_on_anything_else() -> None:
    states: dict[int, RunState | None] = {
        1: RunState.SUCCEEDED,
        2: RunState.RUNNING,
        3: RunState.QUEUED,
        4: RunState.FAILED,
        5: None,
    }
    assert dependency_block((1, 2, 3), states) == ([2, 3], None)
    assert dependency_block((1,), states) == ([], None)
    assert dependency_block((2, 4, 3), states)[1] == 4
    assert dependency_block((5,), states)[1] == 5  # pruned: evd cannot say it succeeded
    assert dependency_block((1,), {1: RunState.CANCELLED})[1] == 1


def test_queue_deadline_counts_from_submit_until_the_first_start() -> None:
    policy = Policy(queue_timeout=60.0)
    assert queue_deadline(policy, 1000.0, started_once=False) == 1060.0
    assert queue_deadline(policy, 1000.0, started_once=True) is None
    assert queue_deadline(Policy(), 1000.0, started_once=False) is None


def test_policy_round_trips_through_its_stored_form() -> None:
    policy = Policy(retries=2, after=(4, 7), queue_timeout=30.0)
    assert Policy.from_dict(policy.to_dict()) == policy
    assert Policy().to_dict() == {}
    assert Policy.from_dict(None) == Policy()
