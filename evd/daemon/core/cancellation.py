"""Cancellation: of one run, of a group, and of the groups a stopped run made.

A run still waiting (queued, held, building) is withdrawn from admission and
recorded ``cancelled`` at once; a live one is stopped by dispatch (SIGTERM to
its process group, SIGKILL after the grace period) and recorded when its shim
reports the end. A coordinating run that was cancelled or timed out takes the
fan-out groups it made along, as a Ray driver's tasks go with it.
"""

from __future__ import annotations

import contextlib
import logging

from evd.daemon.core.admission import Admission
from evd.daemon.core.dispatch import Dispatch
from evd.daemon.core.gate import Gate
from evd.daemon.core.ledger import Ledger
from evd.daemon.submit import secrets
from evd.errors import Conflict, RunNotFound, StorageError
from evd.models import RunState
from evd.store import GroupRecord, RunRecord

log = logging.getLogger("evd.cancellation")


class Cancellation:
    """Cancels runs and groups on request, and groups along with the run that made them."""

    def __init__(
        self, ledger: Ledger, gate: Gate, admission: Admission, dispatch: Dispatch
    ) -> None:
        """Cancel through ``admission`` (waiting runs) and ``dispatch`` (live runs)."""
        self.ledger = ledger
        self.gate = gate
        self.admission = admission
        self.dispatch = dispatch

    def cancel(self, run_id: int) -> RunRecord:
        """Cancel a queued run at once, or begin stopping a running one."""
        record = self.ledger.get(run_id)
        if record.state.is_final:
            raise Conflict(f"run {run_id} has already {record.state.value}; nothing to cancel")
        self.gate.check_writable()
        if self.admission.withdraw(run_id):
            now = self.ledger.clock()
            when = "between attempts" if record.attempts else "before it started"
            self.ledger.record(run_id, RunState.CANCELLED, f"cancelled {when}", now, ended_at=now)
            secrets.forget_for_run(self.ledger.state.run_dir(run_id))
        else:
            self.dispatch.stop_run(run_id, "cancel")
        self.ledger.flush()
        return self.ledger.get(run_id)

    def cancel_group(self, group_id: int) -> GroupRecord:
        """Cancel every run of the group that has not ended (those that have are left be)."""
        group = self.ledger.get_group(group_id)
        for record in self.ledger.store.group_runs(group_id):
            if not record.state.is_final:
                with contextlib.suppress(Conflict):  # ended meanwhile
                    self.cancel(record.id)
        return group

    def run_ended(self, run_id: int, state: RunState) -> None:
        """A run that was stopped takes the groups it made along (a ledger listener).

        After any other end they run on.
        """
        if state not in (RunState.CANCELLED, RunState.TIMED_OUT):
            return
        for group_id in self.ledger.store.groups_made_by(run_id):
            self.ledger.loop.call_soon(self._cancel_made_by, group_id, run_id)

    def _cancel_made_by(self, group_id: int, run_id: int) -> None:
        with contextlib.suppress(RunNotFound, StorageError):  # pruned, or degraded: nothing to do
            self.cancel_group(group_id)
            log.info("cancelled group %d with run %d, which made it", group_id, run_id)
