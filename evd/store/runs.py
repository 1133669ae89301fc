"""The runs table and the run-events table: every state change is an event as well."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from evd.models import FailedBy, RunState
from evd.store.connection import Connection
from evd.store.connection import dumps as _dumps
from evd.store.records import EventRecord, RunRecord

RUN_COLUMNS = (
    "id, name, state, reason, exit_code, failed_by, attempts, command, cwd, env, priority,"
    " timeout, created_at, started_at, ended_at, pid, stop_reason, progress, spec, env_hash,"
    " resources, gpus, policy, retry, metrics, group_id, group_index, cache_key, cached_from"
)
# Columns a transition or an update may set (guards the f-string in _update).
_MUTABLE = frozenset(
    {"reason", "exit_code", "failed_by", "attempts", "started_at", "ended_at", "pid",
     "stop_reason", "progress", "command", "cwd", "spec", "gpus", "retry", "metrics",
     "cache_key", "cached_from"}
)  # fmt: skip


def run_from_row(row: Sequence[Any]) -> RunRecord:
    """A run from a row of ``RUN_COLUMNS``."""
    return RunRecord(
        id=row[0],
        name=row[1],
        state=RunState(row[2]),
        reason=row[3],
        exit_code=row[4],
        failed_by=FailedBy(row[5]) if row[5] else None,
        attempts=row[6],
        command=json.loads(row[7]),
        cwd=row[8],
        env=json.loads(row[9]) if row[9] is not None else None,
        priority=row[10],
        timeout=row[11],
        created_at=row[12],
        started_at=row[13],
        ended_at=row[14],
        pid=row[15],
        stop_reason=row[16],
        progress=row[17],
        spec=json.loads(row[18]) if row[18] is not None else None,
        env_hash=row[19],
        resources=json.loads(row[20]) if row[20] is not None else None,
        gpus=json.loads(row[21]) if row[21] is not None else None,
        policy=json.loads(row[22]) if row[22] is not None else None,
        retry=json.loads(row[23]) if row[23] is not None else None,
        metrics=json.loads(row[24]) if row[24] is not None else None,
        group_id=row[25],
        group_index=row[26],
        cache_key=row[27],
        cached_from=row[28],
    )


def _event_from_row(row: Sequence[Any]) -> EventRecord:
    return EventRecord(id=row[0], run_id=row[1], state=RunState(row[2]), reason=row[3], at=row[4])


class RunsTable(Connection):
    """Runs and their events."""

    def insert_run(
        self,
        *,
        name: str,
        command: list[str],
        cwd: str,
        env: dict[str, str] | None,
        priority: int,
        timeout: float | None,
        now: float,
        reason: str | None,
        spec: dict[str, Any] | None = None,
        env_hash: str | None = None,
        resources: dict[str, Any] | None = None,
        policy: dict[str, Any] | None = None,
        group_id: int | None = None,
        group_index: int | None = None,
        cache_key: str | None = None,
    ) -> tuple[int, int]:
        """Add a queued run and its first event; return ``(run_id, event_id)``."""
        cursor = self._write(
            "INSERT INTO runs (name, state, reason, command, cwd, env, priority, timeout,"
            " created_at, spec, env_hash, resources, policy, group_id, group_index, cache_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                RunState.QUEUED.value,
                reason,
                _dumps(command),
                cwd,
                _dumps(env) if env is not None else None,
                priority,
                timeout,
                now,
                _dumps(spec) if spec is not None else None,
                env_hash,
                _dumps(resources) if resources is not None else None,
                _dumps(policy) if policy else None,
                group_id,
                group_index,
                cache_key,
            ),
        )
        run_id = cursor.lastrowid
        assert run_id is not None
        for key, value in ((spec or {}).get("labels") or {}).items():
            self._write(
                "INSERT INTO run_labels (run_id, key, value) VALUES (?, ?, ?)", (run_id, key, value)
            )
        event_id = self._insert_event(run_id, RunState.QUEUED, reason, now)
        return run_id, event_id

    def transition(
        self, run_id: int, state: RunState, reason: str | None, at: float, **fields: Any
    ) -> int:
        """Move a run to ``state`` (setting ``fields`` too) and record the event; return its id."""
        self._update(run_id, state=state.value, reason=reason, **fields)
        gpus = fields.get("gpus") if state is RunState.RUNNING else None
        return self._insert_event(run_id, state, reason, at, gpus)

    def update(self, run_id: int, **fields: Any) -> None:
        """Set fields of a run that are not a state change (pid, stop_reason, progress)."""
        self._update(run_id, **fields)

    def _update(self, run_id: int, **fields: Any) -> None:
        unknown = fields.keys() - _MUTABLE - {"state"}
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        for key, value in fields.items():
            if isinstance(value, FailedBy):
                fields[key] = value.value
            elif key in ("command", "spec", "gpus", "retry", "metrics") and value is not None:
                fields[key] = _dumps(value)
        assignments = ", ".join(f"{key} = ?" for key in fields)
        self._write(f"UPDATE runs SET {assignments} WHERE id = ?", (*fields.values(), run_id))

    def _insert_event(
        self,
        run_id: int,
        state: RunState,
        reason: str | None,
        at: float,
        gpus: list[int] | None = None,
    ) -> int:
        cursor = self._write(
            "INSERT INTO run_events (run_id, state, reason, at, gpus) VALUES (?, ?, ?, ?, ?)",
            (run_id, state.value, reason, at, _dumps(gpus) if gpus else None),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def get_run(self, run_id: int) -> RunRecord | None:
        """The run with ``run_id``, or ``None``."""
        row = self._conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        found = row.fetchone()
        return run_from_row(found) if found else None

    def list_runs(
        self,
        states: Iterable[RunState] | None = None,
        limit: int | None = None,
        group_id: int | None = None,
        before: int | None = None,
        text: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first: only those in ``states`` or one group if given, at most ``limit``.

        ``before``: only runs with a smaller id (the next page after a run).
        ``text``: only runs whose name contains it (any case), or whose id it is.
        ``labels``: only runs with each of these labels.
        """
        return list(self.iter_runs(states, limit, group_id, before, text, labels=labels))

    def iter_runs(
        self,
        states: Iterable[RunState] | None = None,
        limit: int | None = None,
        group_id: int | None = None,
        before: int | None = None,
        text: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Iterator[RunRecord]:
        """``list_runs``, one record at a time: a long listing is never all in memory."""
        sql = f"SELECT {RUN_COLUMNS} FROM runs"
        conditions: list[str] = []
        params: list[Any] = []
        if states is not None:
            wanted = [state.value for state in states]
            conditions.append(f"state IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if group_id is not None:
            conditions.append("group_id = ?")
            params.append(group_id)
        if before is not None:
            conditions.append("id < ?")
            params.append(before)
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            matches = "name LIKE ? ESCAPE '\\'"
            params.append(f"%{escaped}%")
            if text.isdigit():
                matches += " OR id = ?"
                params.append(int(text))
            conditions.append(f"({matches})")
        for key, value in (labels or {}).items():
            conditions.append("id IN (SELECT run_id FROM run_labels WHERE key = ? AND value = ?)")
            params.extend((key, value))
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return map(run_from_row, self._conn.execute(sql, params))

    def latest_run_named(self, name: str) -> RunRecord | None:
        """The newest run called ``name`` (a job's name is its runs' name)."""
        row = self._conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1", (name,)
        ).fetchone()
        return run_from_row(row) if row else None

    def events(self, run_id: int) -> list[EventRecord]:
        """Every recorded state change of a run, oldest first."""
        rows = self._conn.execute(
            "SELECT id, run_id, state, reason, at FROM run_events WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return [_event_from_row(row) for row in rows]

    def events_after(self, event_id: int, limit: int = 1000) -> list[EventRecord]:
        """Events with an id above ``event_id``, oldest first (to resume a stream)."""
        rows = self._conn.execute(
            "SELECT id, run_id, state, reason, at FROM run_events WHERE id > ? ORDER BY id LIMIT ?",
            (event_id, limit),
        )
        return [_event_from_row(row) for row in rows]

    def last_event_id(self) -> int:
        """The newest event's id (0 when there are none)."""
        row = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM run_events").fetchone()
        return int(row[0])

    def finished_before(self, cutoff: float, final_states: Iterable[RunState]) -> list[int]:
        """Ids of runs in ``final_states`` that ended before ``cutoff``."""
        wanted = [state.value for state in final_states]
        rows = self._conn.execute(
            f"SELECT id FROM runs WHERE state IN ({', '.join('?' * len(wanted))})"
            " AND ended_at < ? ORDER BY id",
            (*wanted, cutoff),
        )
        return [row[0] for row in rows]

    def delete_runs(self, run_ids: Sequence[int]) -> None:
        """Delete runs and their events (for prune)."""
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            self._write(f"DELETE FROM run_events WHERE run_id IN ({marks})", chunk)
            self._write(f"DELETE FROM runs WHERE id IN ({marks})", chunk)
        # A group goes with its last run.
        self._write(
            "DELETE FROM groups WHERE NOT EXISTS"
            " (SELECT 1 FROM runs WHERE runs.group_id = groups.id)"
        )
