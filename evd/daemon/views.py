"""Turn store records into the wire models the API returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evd.models import Run, RunEvent, RunState, iso
from evd.runner.shim import LOG_FILE
from evd.store import RunRecord
from evd.store.records import EventRecord

if TYPE_CHECKING:
    from evd.daemon.engine import Engine


def event_view(event: EventRecord) -> RunEvent:
    """One recorded state change as the API shows it."""
    return RunEvent(
        id=event.id,
        run_id=event.run_id,
        state=event.state,
        reason=event.reason,
        at=iso(event.at) or "",
    )


def queued_reason(engine: Engine, record: RunRecord) -> str | None:
    """Why a queued run waits, in words (worked out now, so never stale)."""
    if record.state is not RunState.QUEUED:
        return record.reason
    if not engine.accepting:
        return "waiting: evd is shutting down"
    if engine.degraded:
        return "waiting: evd cannot write its database (see evd.log)"
    ahead = engine.queue.position(record.id) or 0
    busy = f"{len(engine.live)} of {engine.parallel} slots busy"
    return f"waiting for a free slot ({busy}; {ahead} ahead in the queue)"


def run_view(engine: Engine, record: RunRecord, *, with_events: bool = False) -> Run:
    """A run as the API shows it; a queued run's reason is worked out now."""
    return Run(
        id=record.id,
        name=record.name,
        state=record.state,
        reason=queued_reason(engine, record),
        exit_code=record.exit_code,
        attempts=record.attempts,
        gpus=[],
        progress=1.0 if record.state is RunState.SUCCEEDED else record.progress,
        env=None,
        created_at=iso(record.created_at) or "",
        started_at=iso(record.started_at),
        ended_at=iso(record.ended_at),
        command=record.command,
        cwd=record.cwd,
        priority=record.priority,
        timeout=record.timeout,
        failed_by=record.failed_by,
        pid=record.pid,
        log_path=str(engine.state.run_dir(record.id) / LOG_FILE),
        events=[event_view(e) for e in engine.store.events(record.id)] if with_events else None,
    )


def event_payload(engine: Engine, event: EventRecord) -> dict[str, Any]:
    """One event of the events stream, with the run as it is now."""
    record = engine.store.get_run(event.run_id)
    return {
        "id": event.id,
        "run_id": event.run_id,
        "state": event.state.value,
        "reason": event.reason,
        "at": iso(event.at),
        "run": run_view(engine, record).to_dict() if record else None,
    }
