"""Decide a finished run's final state from what the shim recorded (a pure function)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evd.models import FailedBy, RunState
from evd.runner.logcap import note_in_log
from evd.runner.outcome import Outcome, read_main_exit, read_outcome
from evd.runner.shim import LOG_FILE, read_shim_pid, unreadable_shim_pid
from evd.runner.warm import WORKER_ENDED
from evd.units import format_duration


@dataclass(frozen=True)
class Verdict:
    """A run's final state, exit code, reason and whom a failure belongs to."""

    state: RunState
    exit_code: int | None
    reason: str | None
    failed_by: FailedBy | None


def _describe_exit(code: int) -> str:
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name} (exit {code})"
        except ValueError:
            pass
    return f"exited with code {code}"


def lost_reason(started_at: float | None, boot_time: float, pid: int | None) -> str:
    """Why a run's shim ended without a record: a reboot, or something outside evd."""
    if started_at is not None and started_at < boot_time:
        return "the machine restarted while the job ran"
    return (
        f"its supervisor (pid {pid}) ended without recording an exit status:"
        " something outside evd killed it"
    )


def crashed_after_main(outcome: Outcome | None, main_exit: int | None) -> bool:
    """Whether the process ended otherwise than its code finished (a crash or hang at exit)."""
    return main_exit is not None and (outcome is None or outcome.exit_code != main_exit)


def after_main_note(outcome: Outcome | None, main_exit: int) -> str:
    """The log line that says what happened after the job's code finished."""
    if outcome is None:
        ended = "was stopped"
    else:
        described = _describe_exit(outcome.exit_code)
        ended = "was " + described if described.startswith("killed") else described
    return (
        f"evd: the job's code finished with exit code {main_exit}; the process then {ended}"
        " while shutting down. The run records the job's own exit code."
    )


TAIL_BYTES = 8192
# The last line of a Python traceback: "ModuleNotFoundError: No module named 'x'".
_PY_ERROR = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b(?::.*)?)$")


def read_tail(path: Path) -> str:
    """The last few KiB of a log ('' if it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - TAIL_BYTES))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def python_error(log_tail: str) -> str | None:
    """The exception a Python job died of, from the end of its log, if it printed one."""
    lines = [line.rstrip() for line in log_tail.splitlines() if line.strip()]
    for line in reversed(lines[-20:]):
        match = _PY_ERROR.match(line)
        if match:
            return match.group(1)[:300]
    return None


def judge(
    outcome: Outcome | None,
    *,
    stopping: str | None,
    timeout: float | None,
    lost_reason: str,
    log_tail: str = "",
    over_limit: str | None = None,
    main_exit: int | None = None,
) -> Verdict:
    """The verdict for a run whose shim has ended.

    ``stopping`` is ``"cancel"``, ``"timeout"``, ``"preempt"``, ``"memory"`` or
    ``"gpu-memory"`` when evd was stopping the run (``over_limit`` says how a limit was passed);
    ``lost_reason`` explains a shim that ended without recording a status.
    ``main_exit`` is the exit code the job's own code finished with (see
    ``evd.sdk.launch``): it stands whatever the process did after it, except
    a cancel.
    """
    code = outcome.exit_code if outcome else None
    if stopping == "cancel":
        return Verdict(RunState.CANCELLED, code, "cancelled while running", None)
    if crashed_after_main(outcome, main_exit):
        assert main_exit is not None
        outcome, over_limit, stopping = Outcome(main_exit, 0.0), None, None
        code = main_exit
    if over_limit is not None:  # evd stopped it for going over its memory or GPU memory
        # SIGKILL takes the shim along, so there may be no record: 137 is what happened.
        killed = 128 + signal.SIGKILL
        return Verdict(RunState.FAILED, killed if code is None else code, over_limit, FailedBy.USER)
    if stopping == "timeout":
        limit = format_duration(timeout) if timeout else "its limit"
        return Verdict(RunState.TIMED_OUT, code, f"timed out after {limit}", FailedBy.USER)
    if outcome is None:
        return Verdict(RunState.LOST, None, lost_reason, FailedBy.MACHINE)
    if outcome.exit_code == 0:
        return Verdict(RunState.SUCCEEDED, 0, None, None)
    reason = _describe_exit(outcome.exit_code)
    error = python_error(log_tail) if outcome.exit_code == 1 else None
    if error:
        reason = f"{reason}: {error}"
    return Verdict(RunState.FAILED, code, reason, FailedBy.USER)


PREEMPTED = "preempted"  # the verdict admission turns into a place in the queue again

WORKER_ENDED_REASON = (
    "its warm worker ended before the call returned (the run's log says more);"
    " the next run gets a new worker"
)


def never_started(run_dir: Path) -> bool:
    """Whether the run's shim never ran (it writes its pid before anything else)."""
    return read_shim_pid(run_dir) is None and unreadable_shim_pid(run_dir) is None


def wrapper_failed(log_tail: str) -> Verdict:
    """systemd-run, which puts the job in its memory-limited scope, failed before the shim ran."""
    said = " ".join(line.strip() for line in log_tail.splitlines() if line.strip())[-300:]
    return Verdict(
        RunState.FAILED,
        125,
        "systemd-run, which gives the job its memory limit, failed before the job started"
        + (f": {said}" if said else ""),
        FailedBy.EVD,
    )


def verdict_from_folder(
    run_dir: Path,
    *,
    stopping: str | None,
    timeout: float | None,
    started_at: float | None,
    pid: int | None,
    boot_time: Callable[[], float],
    over_limit: Callable[[int], str | None],
    scoped: bool = False,
) -> tuple[Verdict, Outcome | None]:
    """Read what the shim and the job left in ``run_dir``, and judge how the run ended.

    ``over_limit(oom_kills)`` says how a limit was passed, given the kernel's
    out-of-memory kills in the run's scope; ``scoped``: it was started under
    systemd-run, which may fail before the shim runs.
    """
    outcome = read_outcome(run_dir)
    main_exit = read_main_exit(run_dir)
    if stopping != "cancel" and main_exit is not None and crashed_after_main(outcome, main_exit):
        note_in_log(run_dir, after_main_note(outcome, main_exit))
    tail = read_tail(run_dir / LOG_FILE)
    if scoped and outcome is None and stopping is None and never_started(run_dir):
        return wrapper_failed(tail), None
    if (
        main_exit is None
        and stopping not in ("cancel", "timeout")
        and (stopping == "worker" or (run_dir / WORKER_ENDED).exists())
    ):
        code = outcome.exit_code if outcome else None
        return Verdict(RunState.FAILED, code, WORKER_ENDED_REASON, FailedBy.USER), outcome
    if stopping == "preempt" and main_exit != 0:  # its work is not done: it goes again
        code = outcome.exit_code if outcome else None
        return Verdict(RunState.CANCELLED, code, PREEMPTED, None), outcome
    verdict = judge(
        outcome,
        stopping=stopping,
        timeout=timeout,
        over_limit=over_limit(outcome.oom_kills if outcome else 0),
        lost_reason=lost_reason(started_at, boot_time(), pid) if outcome is None else "",
        log_tail=tail,
        main_exit=main_exit,
    )
    return verdict, outcome
