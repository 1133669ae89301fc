"""Turn store records into the wire models the API returns."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evd.daemon import fanout
from evd.daemon.jobenv import OUTPUT_DIR
from evd.models import Group, Run, RunEvent, RunState, iso
from evd.reservation import reserve
from evd.resources.request import Request
from evd.runner.shim import LOG_FILE
from evd.scheduler import why_waiting
from evd.store import GroupRecord, RunRecord
from evd.store.records import EventRecord
from evd.units import format_duration

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


def _paused(engine: Engine) -> str | None:
    """Why nothing starts at all right now, if so."""
    if engine.draining:
        return "waiting: evd is draining (`evd resume` starts runs again)"
    if not engine.accepting:
        return "waiting: evd is shutting down"
    if engine.degraded:
        return "waiting: evd cannot write its database (see evd.log)"
    return None


def queued_reason(engine: Engine, record: RunRecord) -> str | None:
    """Why a queued run waits, in words (worked out now, so never stale)."""
    if record.state is not RunState.QUEUED:
        return record.reason
    paused = _paused(engine)
    if paused is not None:
        return paused

    def name(run_id: int) -> str:
        holder = engine.store.get_run(run_id)
        return f"run {run_id} ({holder.name})" if holder else f"run {run_id}"

    held = engine.holds.reason(record.id, engine.clock(), name)
    if held is not None:
        return held
    ahead = engine.queue.position(record.id) or 0
    if engine.parallel is not None and len(engine.live) >= engine.parallel:
        busy = f"{len(engine.live)} of {engine.parallel} slots busy"
        return f"waiting for a free slot ({busy}; {ahead} ahead in the queue)"

    request = Request.from_dict(record.resources)
    reason = why_waiting(request, engine.pool, ahead, name)
    if ahead == 0 and engine.pool.fit(record.id, request) is None:
        # The head of the queue: the running jobs' timeouts may bound its wait.
        now = engine.clock()
        until = reserve(engine.pool, request, now).until
        if until < math.inf:
            reason += (
                f"; sure to start within {format_duration(until - now)} (running jobs' timeouts)"
            )
    return reason


MAX_LISTED_OUTPUTS = 1000


def list_outputs(outputs: Path) -> list[dict[str, Any]]:
    """The files a run wrote to its outputs folder (path relative to it, size)."""
    found: list[dict[str, Any]] = []
    for folder, _dirs, files in os.walk(outputs):
        for name in sorted(files):
            path = Path(folder, name)
            try:
                size = path.stat().st_size
            except OSError:
                continue
            found.append({"path": str(path.relative_to(outputs)), "size": size})
            if len(found) >= MAX_LISTED_OUTPUTS:
                return found
    return found


def env_label(spec: dict[str, Any] | None) -> str | None:
    """The env a run uses, in a word: its name, or where it came from."""
    env = (spec or {}).get("env")
    if not env:
        return None
    return str(env.get("name") or env.get("source") or env["hash"][:8])


def run_view(engine: Engine, record: RunRecord, *, with_events: bool = False) -> Run:
    """A run as the API shows it; a queued run's reason is worked out now.

    ``with_events`` (``evd show``) adds the history and the outputs.
    """
    spec = record.spec or {}
    run_dir = engine.state.run_dir(record.id)
    return Run(
        id=record.id,
        name=record.name,
        state=record.state,
        reason=queued_reason(engine, record),
        exit_code=record.exit_code,
        attempts=record.attempts,
        gpus=list(record.gpus or []),
        progress=1.0 if record.state is RunState.SUCCEEDED else record.progress,
        env=env_label(spec),
        created_at=iso(record.created_at) or "",
        started_at=iso(record.started_at),
        ended_at=iso(record.ended_at),
        command=record.command,
        cwd=record.cwd,
        priority=record.priority,
        timeout=record.timeout,
        failed_by=record.failed_by,
        pid=record.pid,
        log_path=str(run_dir / LOG_FILE),
        kind=spec.get("kind", "command"),
        env_hash=record.env_hash,
        settings=spec.get("settings", {}),
        volumes=[{k: v[k] for k in ("name", "path", "version")} for v in spec.get("volumes", [])],
        outputs=list_outputs(run_dir / OUTPUT_DIR) if with_events else None,
        events=[event_view(e) for e in engine.store.events(record.id)] if with_events else None,
        resources=record.resources or {},
        policy=record.policy or {},
        metrics=record.metrics or engine.usage.peaks(record.id) or {},
        progress_detail=_progress_detail(engine, record.id),
        group=record.group_id,
        group_index=record.group_index,
    )


def group_view(engine: Engine, group: GroupRecord) -> Group:
    """A fan-out group as the API shows it: its runs added up."""
    runs = engine.store.group_runs(group.id)
    state = fanout.group_state(runs)
    ends = [run.ended_at for run in runs if run.ended_at is not None]
    spec = group.spec or {}
    return Group(
        id=group.id,
        name=group.name,
        size=group.size,
        state=state,
        progress=fanout.group_progress(runs, group.size),
        counts=fanout.group_counts(runs),
        run_ids=[run.id for run in runs],
        created_at=iso(group.created_at) or "",
        ended_at=iso(max(ends)) if ends and all(run.state.is_final for run in runs) else None,
        file=spec.get("source"),
        function=spec.get("function"),
    )


def _progress_detail(engine: Engine, run_id: int) -> dict[str, Any]:
    live = engine.live.get(run_id)
    if live is None:
        return {}
    return {key: value for key, value in live.progress.items() if key != "progress"}


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
