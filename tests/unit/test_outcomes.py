from evd.daemon.core.outcomes import judge, lost_reason
from evd.models import FailedBy, RunState
from evd.runner.outcome import Outcome


def test_exit_zero_succeeds() -> None:
    verdict = judge(Outcome(0, 1.0), stopping=None, timeout=None, lost_reason="x")
    assert (verdict.state, verdict.exit_code, verdict.failed_by) == (RunState.SUCCEEDED, 0, None)


def test_nonzero_exit_fails_by_the_user_with_the_signal_named() -> None:
    verdict = judge(Outcome(137, 1.0), stopping=None, timeout=None, lost_reason="x")
    assert (verdict.state, verdict.failed_by) == (RunState.FAILED, FailedBy.USER)
    assert verdict.reason == "killed by SIGKILL (exit 137)"
    assert (
        judge(Outcome(3, 1.0), stopping=None, timeout=None, lost_reason="x").reason
        == "exited with code 3"
    )


def test_a_stop_decides_the_state_whatever_the_exit() -> None:
    assert (
        judge(Outcome(0, 1.0), stopping="cancel", timeout=None, lost_reason="x").state
        is RunState.CANCELLED
    )
    timed = judge(None, stopping="timeout", timeout=90, lost_reason="x")
    assert (timed.state, timed.exit_code, timed.reason) == (
        RunState.TIMED_OUT,
        None,
        "timed out after 1m30s",
    )


def test_no_record_and_no_stop_is_lost_to_the_machine() -> None:
    verdict = judge(None, stopping=None, timeout=None, lost_reason="the machine restarted")
    assert (verdict.state, verdict.failed_by, verdict.reason) == (
        RunState.LOST,
        FailedBy.MACHINE,
        "the machine restarted",
    )


def test_lost_reason_tells_a_reboot_from_a_kill() -> None:
    assert (
        lost_reason(started_at=100.0, boot_time=200.0, pid=7)
        == "the machine restarted while the job ran"
    )
    assert "supervisor (pid 7) ended without recording" in lost_reason(
        started_at=300.0, boot_time=200.0, pid=7
    )


def test_what_the_jobs_code_finished_with_stands_over_what_the_process_did_after() -> None:
    aborted = Outcome(exit_code=134, ended_at=1.0)
    verdict = judge(aborted, stopping=None, timeout=None, lost_reason="", main_exit=0)
    assert (verdict.state, verdict.exit_code, verdict.reason) == (RunState.SUCCEEDED, 0, None)
    failed = judge(aborted, stopping=None, timeout=None, lost_reason="", main_exit=3)
    assert (failed.state, failed.exit_code) == (RunState.FAILED, 3)
    # Hung at exit until its timeout, or killed with no record: the code had finished.
    hung = judge(None, stopping="timeout", timeout=5, lost_reason="", main_exit=0)
    assert hung.state is RunState.SUCCEEDED
    # A cancel is the user's word: it stands.
    cancelled = judge(aborted, stopping="cancel", timeout=None, lost_reason="", main_exit=0)
    assert cancelled.state is RunState.CANCELLED
    # No crash: the process's own status is the same, nothing to override.
    plain = judge(Outcome(2, 1.0), stopping=None, timeout=None, lost_reason="", main_exit=2)
    assert (plain.state, plain.exit_code) == (RunState.FAILED, 2)
