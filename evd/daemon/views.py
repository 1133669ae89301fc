"""Turn store records into the wire models the API returns (reading the core's ``Board``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from evd.daemon.core.board import Board
from evd.daemon.core.workers import Worker
from evd.daemon.data.inputs import staged as staged_inputs
from evd.daemon.data.outputs import published
from evd.daemon.submit import fanout
from evd.models import Group, Run, RunEvent, RunState, iso
from evd.runner.folders import OUTPUT_DIR
from evd.runner.shim import LOG_FILE
from evd.store import GroupRecord, RunRecord
from evd.store.records import EventRecord


def event_view(event: EventRecord) -> RunEvent:
    """One recorded state change as the API shows it."""
    return RunEvent(
        id=event.id,
        run_id=event.run_id,
        state=event.state,
        reason=event.reason,
        at=iso(event.at) or "",
    )


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


def run_view(
    board: Board, record: RunRecord, *, with_events: bool = False, forecast: bool = False
) -> Run:
    """A run as the API shows it; a queued run's reason is worked out now.

    ``with_events`` (``evd show``) adds the history and the outputs; ``forecast``
    (listings and ``evd show``, not a submit's answer or an event) a queued run's
    expected start, which plays the queue forward (at most once a second).
    """
    spec = record.spec or {}
    run_dir = board.state.run_dir(record.id)
    return Run(
        id=record.id,
        name=record.name,
        state=record.state,
        reason=board.queued_reason(record, forecast=forecast),
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
        events=[event_view(e) for e in board.store.events(record.id)] if with_events else None,
        resources=record.resources or {},
        policy=record.policy or {},
        metrics=record.metrics or board.peaks(record.id) or {},
        progress_detail=board.progress_detail(record.id),
        group=record.group_id,
        group_index=record.group_index,
        hidden_variables=list(spec.get("hidden_variables", [])),
        cache_key=record.cache_key,
        cached_from=record.cached_from,
        labels=spec.get("labels", {}),
        meta=spec.get("settings", {}).get("meta", {}),
        inputs=inputs_view(spec, run_dir, staged=with_events),
        published=published(run_dir) if with_events else None,
        estimate=spec.get("estimate") if record.state.is_final else board.estimate(record),
        expected_start=expected_start(board, record) if forecast else None,
    )


def expected_start(board: Board, record: RunRecord) -> str | None:
    """A queued run's forecast start (``evd.forecast``), as an ISO time."""
    if record.state is not RunState.QUEUED:
        return None
    expected = board.expected_start(record.id)
    return None if expected is None else iso(expected.at)


def inputs_view(spec: dict[str, Any], run_dir: Path, *, staged: bool) -> list[dict[str, Any]]:
    """The run's declared inputs; with ``staged``, what staging found for each."""
    declared = [
        {k: v for k, v in item.items() if k != "env_var"} for item in spec.get("inputs", [])
    ]
    if not staged or not declared:
        return declared
    found = {item["name"]: item for item in staged_inputs(run_dir) or []}
    return [{**item, "staged": found.get(item["name"])} for item in declared]


def group_view(board: Board, group: GroupRecord) -> Group:
    """A fan-out group as the API shows it: its runs added up."""
    runs = board.store.group_runs(group.id)
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


def event_payload(board: Board, event: EventRecord) -> dict[str, Any]:
    """One event of the events stream, with the run as it is now."""
    record = board.store.get_run(event.run_id)
    return {
        "id": event.id,
        "run_id": event.run_id,
        "state": event.state.value,
        "reason": event.reason,
        "at": iso(event.at),
        "run": run_view(board, record).to_dict() if record else None,
    }


def worker_view(worker: Worker) -> dict[str, Any]:
    """A warm worker as the API shows it (``WorkerInfo``)."""
    return {
        "id": worker.id,
        "name": worker.name,
        "state": worker.state,
        "pid": worker.pid,
        "serving": worker.serving,
        "runs": worker.runs,
        "started_at": iso(worker.started_at),
        "idle_ttl": worker.idle_ttl,
        "replicas": worker.replicas,
        "cpus": worker.allocation.cpus,
        "memory": worker.allocation.memory,
        "gpus": list(worker.allocation.gpus),
        "source": worker.source,
    }
