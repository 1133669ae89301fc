"""Publishing: a succeeded run's outputs go where it declared before the run is final.

Dispatch asks, once a run's job has ended, whether it should run again; then
whether it has outputs to publish (``take``). A run that has stays ``running``
(reason "publishing outputs: ...") while its files are linked, copied or
uploaded in a thread, having given back its CPUs, memory and GPUs; then it is
recorded ``succeeded`` with what went where (``published.json``), or
``failed`` with the reason (its files stay in its outputs folder). A daemon
that stops meanwhile concludes the run again at its next start, which
publishes again: a destination is overwritten, never half-kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from evd.daemon.core.ledger import Ledger
from evd.daemon.core.outcomes import Verdict
from evd.daemon.data.objects import credentials_of
from evd.daemon.data.outputs import PublishFailed, destinations, publish
from evd.daemon.submit import secrets
from evd.errors import StorageError
from evd.models import FailedBy, RunState
from evd.runner.logcap import note_in_log
from evd.store import RunRecord

log = logging.getLogger("evd.publishing")


def record_end(ledger: Ledger, run_id: int, verdict: Verdict, ended: float) -> None:
    """Record how a run ended, its shell-given secrets forgotten (it needs them no more)."""
    secrets.forget_for_run(ledger.state.run_dir(run_id))
    ledger.record(
        run_id,
        verdict.state,
        verdict.reason,
        ended,
        exit_code=verdict.exit_code,
        failed_by=verdict.failed_by,
        ended_at=ended,
    )


class Publishing:
    """Publishes succeeded runs' outputs, then records how they ended."""

    def __init__(self, ledger: Ledger) -> None:
        """Record into ``ledger``; its state dir holds the secrets file."""
        self.ledger = ledger
        self._tasks: set[asyncio.Task[None]] = set()

    def take(self, record: RunRecord, verdict: Verdict, ended: float) -> bool:
        """Publish ``record``'s outputs if it succeeded and declares destinations; whether it did.

        Taken, the run is concluded here once its outputs are out.
        """
        outputs = (record.spec or {}).get("outputs") or []
        if verdict.state is not RunState.SUCCEEDED or not any(map(destinations, outputs)):
            return False
        names = ", ".join(o["name"] for o in outputs if destinations(o))
        self.ledger.record(record.id, RunState.RUNNING, f"publishing outputs: {names}", ended)
        task = self.ledger.loop.create_task(self._publish(record, verdict, ended, outputs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _publish(
        self, record: RunRecord, verdict: Verdict, ended: float, outputs: list[dict[str, Any]]
    ) -> None:
        state = self.ledger.state
        run_dir = state.run_dir(record.id)
        names = (record.spec or {}).get("data_secrets", [])
        values = secrets.available(names, run_dir, state.root / secrets.SECRETS_FILE)
        try:
            done = await asyncio.to_thread(
                publish, record.id, run_dir, record.name, outputs,
                lambda prefix: credentials_of(prefix, values),
            )  # fmt: skip
        except PublishFailed as error:
            verdict = Verdict(RunState.FAILED, verdict.exit_code, str(error), FailedBy.USER)
        except Exception as error:
            log.exception("publishing run %s's outputs failed", record.id)
            reason = f"evd could not publish the outputs: {error}"
            verdict = Verdict(RunState.FAILED, verdict.exit_code, reason, FailedBy.EVD)
        else:
            for item in done:
                note_in_log(run_dir, f"evd: published {item['output']} to {item['to']}")
        self._conclude(record.id, run_dir, verdict, ended)

    def _conclude(self, run_id: int, run_dir: Path, verdict: Verdict, ended: float) -> None:
        with contextlib.suppress(StorageError):  # degraded: recovery concludes it again
            if self.ledger.get(run_id).state.is_final:
                return
            if verdict.reason is not None and verdict.state is RunState.FAILED:
                note_in_log(run_dir, f"evd: {verdict.reason}")
            record_end(self.ledger, run_id, verdict, ended)
            self.ledger.flush()
