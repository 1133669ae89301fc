"""Recovery: rebuild the runtime state from the store and the run folders.

At start (``reconcile``): queued runs go back to admission; a run whose shim
is alive is adopted by dispatch (its stop or timeout re-armed); a run whose
shim ended while no daemon watched gets the exit status the shim recorded and
its real end time; with no record, it is lost, with the reason. Nothing stays
"running".

When the store cannot be written (a full disk), the ledger has rolled back
everything uncommitted and tells ``degrade``: evd is *degraded* (the gate
starts nothing and refuses writes), and every few seconds recovery asks each
part to ``reset`` and reconciles again, as a restarted daemon would. The shims
keep their own records meanwhile, so no run's outcome is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from evd.daemon.core.admission import Admission
from evd.daemon.core.dispatch import Dispatch
from evd.daemon.core.gate import Gate
from evd.daemon.core.ledger import Ledger
from evd.daemon.core.runtime import LiveRun
from evd.daemon.core.spawning import record_start
from evd.daemon.monitor.usage import Usage
from evd.errors import StorageError
from evd.models import ACTIVE_STATES, FailedBy, RunState
from evd.policy import Policy
from evd.runner.outcome import read_outcome
from evd.runner.procenv import devices_of, job_variables
from evd.runner.shim import PID_FILE, find_shim, is_shim_of, read_shim_pid, unreadable_shim_pid
from evd.store import RunRecord

log = logging.getLogger("evd.recovery")

RECOVERY_INTERVAL = 5.0


class Recovery:
    """Reconciles at start, and after the store could not be written."""

    def __init__(
        self,
        ledger: Ledger,
        gate: Gate,
        admission: Admission,
        dispatch: Dispatch,
        usage: Usage,
        *,
        interval: float = RECOVERY_INTERVAL,
    ) -> None:
        """Recover ``ledger``'s runs into admission and dispatch; retry every ``interval`` s."""
        self.ledger = ledger
        self.gate = gate
        self.admission = admission
        self.dispatch = dispatch
        self.usage = usage
        self.interval = interval
        self._timer: asyncio.TimerHandle | None = None
        self.on_reset: Callable[[], None] = lambda: None  # after dispatch's reset (at wiring)

    def reconcile(self) -> None:
        """Rebuild runtime state from the store and the run folders after a (re)start."""
        state = self.ledger.state
        for record in reversed(self.ledger.store.list_runs(ACTIVE_STATES)):
            run_dir = state.run_dir(record.id)
            if _left_by_last_attempt(record, run_dir):
                self.admission.readmit(record)
                continue
            pid = read_shim_pid(run_dir)
            garbled = unreadable_shim_pid(run_dir) if pid is None else None
            if garbled is not None:
                # A shim started and wrote something that is not a pid: find it by its
                # command line. A run that may still run is never started a second time.
                pid = find_shim(run_dir)
                if pid is None:
                    self._unprovable(record, run_dir, garbled)
                    continue
            if pid is None:
                self.admission.readmit(record)
            else:
                self._found_shim(record, pid, run_dir)

    def _unprovable(self, record: RunRecord, run_dir: Path, garbled: str) -> None:
        """A run whose shim started, with no readable pid and none of it alive: its end, or lost."""
        if read_outcome(run_dir) is not None:
            self.dispatch.conclude(record, None, record.stop_reason)
            return
        now = self.ledger.clock()
        self.ledger.record(
            record.id,
            RunState.LOST,
            f"its shim recorded an unreadable pid ({garbled[:40]!r}) and no shim of it runs:"
            " evd cannot tell whether or how the job ran, so it does not start it again",
            now,
            failed_by=FailedBy.EVD,
            ended_at=now,
        )

    def _found_shim(self, record: RunRecord, pid: int, run_dir: Path) -> None:
        """Adopt a run whose shim lives on; conclude one whose shim has ended."""
        variables = job_variables(pid)
        if record.state is not RunState.RUNNING:
            # The daemon died between spawning and committing the start; the
            # job's own environment still says which devices it was given.
            record_start(
                self.ledger,
                record,
                pid=pid,
                at=(run_dir / PID_FILE).stat().st_mtime,
                gpus=devices_of(
                    variables, {gpu.uuid: gpu.index for gpu in self.dispatch.inventory.gpus}
                ),
                reason="started just before the daemon stopped",
            )
            record = self.ledger.get(record.id)
        if is_shim_of(pid, run_dir):
            log.info("run %s: re-adopted its running job (pid %s)", record.id, pid)
            port = variables.get("MASTER_PORT", "")
            live = LiveRun(
                run_id=record.id,
                pid=pid,
                run_dir=run_dir,
                master_port=int(port) if port.isdigit() else None,
                disk=int((record.resources or {}).get("disk", 0)),
                preemptible=Policy.preemptible_in(record.policy),
            )
            self.dispatch.adopt(record, live)
        else:
            self.dispatch.conclude(record, pid, record.stop_reason)

    # -- storage failures ---------------------------------------------------------------

    def degrade(self, error: StorageError) -> None:
        """The store rolled back what was uncommitted: start nothing until it can write again."""
        if self.gate.degraded is None:
            log.error("cannot write the database, starting nothing until it can: %s", error)
        self.gate.degraded = str(error)
        if self._timer is None and self.ledger.attached:
            self._timer = self.ledger.loop.call_later(self.interval, self._recover)

    def _recover(self) -> None:
        """Rebuild runtime state from the store and the run folders, as a restart would."""
        self._timer = None
        self.dispatch.reset()
        self.on_reset()  # warm workers hold what they held again
        self.usage.reset()
        self.admission.reset()
        try:
            self.reconcile()
            self.gate.degraded = None
            self.ledger.flush()
        except StorageError:
            return  # still degraded; the ledger has scheduled the next attempt
        log.info("the database is writable again; runs re-synchronised from their folders")
        self.dispatch.tick()

    def stop(self) -> None:
        """Cancel a pending attempt (evd is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _left_by_last_attempt(record: RunRecord, run_dir: Path) -> bool:
    """Whether the shim records in a run folder are those of an attempt that already ended.

    A run waiting to retry still holds its last attempt's ``shim.pid``; a pid
    file written before the run was queued again is that one.
    """
    if record.state is not RunState.QUEUED or not record.retry:
        return False
    try:
        return (run_dir / PID_FILE).stat().st_mtime <= float(record.retry["since"])
    except OSError:
        return False
