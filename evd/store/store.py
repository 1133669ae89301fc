"""``Store``: the runs and their events in SQLite.

The daemon is the only writer. Writes open a transaction implicitly and become
durable at ``commit()`` (WAL with ``synchronous=FULL``: one fsync per commit,
~0.3 ms here). The engine batches the state changes of one loop turn into one
commit; a submit commits before the API answers, so an id a user has seen is
never lost. A write or commit that fails (a full disk) rolls back everything
uncommitted and raises ``StorageError``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import sqlite_utils

from evd.errors import StorageError
from evd.models import FailedBy, RunState
from evd.store.migrations import migrate
from evd.store.records import (
    EnvRecord,
    EventRecord,
    GroupRecord,
    RunRecord,
    ScheduleRecord,
    VolumeRecord,
    WatchFileRecord,
    WatchRecord,
)

_RUN_COLUMNS = (
    "id, name, state, reason, exit_code, failed_by, attempts, command, cwd, env, priority,"
    " timeout, created_at, started_at, ended_at, pid, stop_reason, progress, spec, env_hash,"
    " resources, gpus, policy, retry, metrics, group_id, group_index"
)
# Columns a transition or an update may set (guards the f-string in _update).
_MUTABLE = frozenset(
    {"reason", "exit_code", "failed_by", "attempts", "started_at", "ended_at", "pid",
     "stop_reason", "progress", "command", "cwd", "spec", "gpus", "retry", "metrics"}
)  # fmt: skip


def _dumps(value: Any) -> str:
    # ensure_ascii keeps any odd code point storable as plain text.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _run_from_row(row: Sequence[Any]) -> RunRecord:
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
    )


def _event_from_row(row: Sequence[Any]) -> EventRecord:
    return EventRecord(id=row[0], run_id=row[1], state=RunState(row[2]), reason=row[3], at=row[4])


_SCHEDULE_COLUMNS = (
    "id, spec, request, overlap, misfire_grace, paused, created_at, next_fire_at, last_fire_at,"
    " last_run_id, pending, fires, note"
)
# Columns a schedule update may set (guards the f-string in update_schedule).
_SCHEDULE_MUTABLE = frozenset(
    {"paused", "next_fire_at", "last_fire_at", "last_run_id", "pending", "fires", "note"}
)


def _schedule_from_row(row: Sequence[Any]) -> ScheduleRecord:
    return ScheduleRecord(
        id=row[0], spec=row[1], request=json.loads(row[2]), overlap=row[3],
        misfire_grace=row[4], paused=bool(row[5]), created_at=row[6], next_fire_at=row[7],
        last_fire_at=row[8], last_run_id=row[9], pending=bool(row[10]), fires=row[11],
        note=row[12],
    )  # fmt: skip


_GROUP_COLUMNS = "id, name, size, created_at, spec, parent_run"


def _group_from_row(row: Sequence[Any]) -> GroupRecord:
    spec = json.loads(row[4]) if row[4] is not None else None
    return GroupRecord(
        id=row[0], name=row[1], size=row[2], created_at=row[3], spec=spec, parent_run=row[5]
    )


class Store:
    """The runs table and the run-events table of one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        """Open (creating and migrating as needed) the database at ``path``."""
        self.path = Path(path)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db = sqlite_utils.Database(conn)
        self._conn = conn
        self._db.enable_wal()
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self.applied_migrations = migrate(self._db)

    # -- transactions ---------------------------------------------------------

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            if not self._conn.in_transaction:
                self._conn.execute("BEGIN IMMEDIATE")
            return self._conn.execute(sql, params)
        except sqlite3.Error as error:
            self._fail(error)

    def _fail(self, error: sqlite3.Error) -> NoReturn:
        """Roll back everything uncommitted and raise a ``StorageError`` that says what to do."""
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        if getattr(error, "sqlite_errorname", "") == "SQLITE_FULL":
            raise StorageError(
                f"the disk holding {self.path} is full, so evd could not record this."
                " Free some space (`evd prune --older-than 30d` removes old runs);"
                " evd carries on by itself once it can write again."
            ) from error
        raise StorageError(f"evd could not write {self.path}: {error}") from error

    @property
    def dirty(self) -> bool:
        """Whether there are writes not yet committed."""
        return self._conn.in_transaction

    def commit(self) -> None:
        """Make every write so far durable (no-op when there are none)."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._fail(error)

    def rollback(self) -> None:
        """Drop every write not yet committed."""
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    def close(self) -> None:
        """Commit and close the database."""
        self.commit()
        self._conn.close()

    # -- runs -----------------------------------------------------------------

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
    ) -> tuple[int, int]:
        """Add a queued run and its first event; return ``(run_id, event_id)``."""
        cursor = self._write(
            "INSERT INTO runs (name, state, reason, command, cwd, env, priority, timeout,"
            " created_at, spec, env_hash, resources, policy, group_id, group_index)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
        run_id = cursor.lastrowid
        assert run_id is not None
        event_id = self._insert_event(run_id, RunState.QUEUED, reason, now)
        return run_id, event_id

    def transition(
        self, run_id: int, state: RunState, reason: str | None, at: float, **fields: Any
    ) -> int:
        """Move a run to ``state`` (setting ``fields`` too) and record the event; return its id."""
        self._update(run_id, state=state.value, reason=reason, **fields)
        return self._insert_event(run_id, state, reason, at)

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

    def _insert_event(self, run_id: int, state: RunState, reason: str | None, at: float) -> int:
        cursor = self._write(
            "INSERT INTO run_events (run_id, state, reason, at) VALUES (?, ?, ?, ?)",
            (run_id, state.value, reason, at),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def get_run(self, run_id: int) -> RunRecord | None:
        """The run with ``run_id``, or ``None``."""
        row = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        found = row.fetchone()
        return _run_from_row(found) if found else None

    def list_runs(
        self,
        states: Iterable[RunState] | None = None,
        limit: int | None = None,
        group_id: int | None = None,
        before: int | None = None,
        text: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first: only those in ``states`` or one group if given, at most ``limit``.

        ``before``: only runs with a smaller id (the next page after a run).
        ``text``: only runs whose name contains it (any case), or whose id it is.
        """
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
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
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_run_from_row(row) for row in self._conn.execute(sql, params)]

    def latest_run_named(self, name: str) -> RunRecord | None:
        """The newest run called ``name`` (a job's name is its runs' name)."""
        row = self._conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1", (name,)
        ).fetchone()
        return _run_from_row(row) if row else None

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

    # -- groups -------------------------------------------------------------------

    def insert_group(
        self,
        *,
        name: str,
        size: int,
        created_at: float,
        spec: dict[str, Any] | None,
        parent_run: int | None = None,
    ) -> int:
        """Add a fan-out group (its runs are inserted with its id); return the id."""
        cursor = self._write(
            "INSERT INTO groups (name, size, created_at, spec, parent_run) VALUES (?, ?, ?, ?, ?)",
            (name, size, created_at, _dumps(spec) if spec is not None else None, parent_run),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def get_group(self, group_id: int) -> GroupRecord | None:
        """The group with ``group_id``, or ``None``."""
        row = self._conn.execute(
            f"SELECT {_GROUP_COLUMNS} FROM groups WHERE id = ?", (group_id,)
        ).fetchone()
        return _group_from_row(row) if row else None

    def list_groups(
        self, states: Iterable[RunState] | None = None, limit: int | None = None
    ) -> list[GroupRecord]:
        """Groups, newest first; with ``states``, only those with a run in one of them."""
        sql = f"SELECT {_GROUP_COLUMNS} FROM groups"
        params: list[Any] = []
        if states is not None:
            wanted = [state.value for state in states]
            sql += (
                " WHERE id IN (SELECT group_id FROM runs WHERE group_id IS NOT NULL"
                f" AND state IN ({', '.join('?' * len(wanted))}))"
            )
            params.extend(wanted)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_group_from_row(row) for row in self._conn.execute(sql, params)]

    def groups_made_by(self, run_id: int) -> list[int]:
        """Ids of the groups the run ``run_id`` made (by ``job.map`` while it ran)."""
        rows = self._conn.execute("SELECT id FROM groups WHERE parent_run = ?", (run_id,))
        return [row[0] for row in rows]

    def group_runs(self, group_id: int) -> list[RunRecord]:
        """A group's runs in item order."""
        rows = self._conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE group_id = ? ORDER BY group_index",
            (group_id,),
        )
        return [_run_from_row(row) for row in rows]

    # -- environments -----------------------------------------------------------

    def put_env(self, env: EnvRecord) -> None:
        """Record a built venv (replacing an older record of the same hash)."""
        self._write(
            "INSERT OR REPLACE INTO envs (hash, python, requirements, size, build_seconds,"
            " built_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                env.hash,
                env.python,
                _dumps(env.requirements),
                env.size,
                env.build_seconds,
                env.built_at,
                env.last_used_at,
            ),
        )

    def touch_env(self, content_hash: str, at: float) -> None:
        """Note that a run started in the venv ``content_hash``."""
        self._write("UPDATE envs SET last_used_at = ? WHERE hash = ?", (at, content_hash))

    def list_envs(self) -> list[EnvRecord]:
        """Every recorded venv, most recently used first."""
        rows = self._conn.execute(
            "SELECT hash, python, requirements, size, build_seconds, built_at, last_used_at"
            " FROM envs ORDER BY COALESCE(last_used_at, built_at) DESC"
        )
        return [
            EnvRecord(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6])
            for row in rows
        ]

    def env_users(self, states: Iterable[RunState] | None = None) -> dict[str, int]:
        """How many runs (in ``states``, or all) use each venv."""
        sql = "SELECT env_hash, COUNT(*) FROM runs WHERE env_hash IS NOT NULL"
        params: list[Any] = []
        if states is not None:
            wanted = [state.value for state in states]
            sql += f" AND state IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        rows = self._conn.execute(sql + " GROUP BY env_hash", params)
        return {row[0]: row[1] for row in rows}

    def delete_env(self, content_hash: str) -> None:
        """Forget a venv (its folder is removed by the caller)."""
        self._write("DELETE FROM envs WHERE hash = ?", (content_hash,))

    # -- volumes ------------------------------------------------------------------

    def put_volume(self, volume: VolumeRecord) -> None:
        """Define (or redefine) a named volume."""
        self._write(
            "INSERT OR REPLACE INTO volumes (name, path, created_at) VALUES (?, ?, ?)",
            (volume.name, volume.path, volume.created_at),
        )

    def get_volume(self, name: str) -> VolumeRecord | None:
        """The volume ``name``, or ``None``."""
        row = self._conn.execute(
            "SELECT name, path, created_at FROM volumes WHERE name = ?", (name,)
        ).fetchone()
        return VolumeRecord(*row) if row else None

    def list_volumes(self) -> list[VolumeRecord]:
        """Every volume, by name."""
        rows = self._conn.execute("SELECT name, path, created_at FROM volumes ORDER BY name")
        return [VolumeRecord(*row) for row in rows]

    def delete_volume(self, name: str) -> bool:
        """Remove a volume's definition (never its data); whether it existed."""
        return self._write("DELETE FROM volumes WHERE name = ?", (name,)).rowcount > 0

    # -- watched folders ----------------------------------------------------------

    def insert_watch(self, *, dir: str, pattern: str, options: dict[str, Any], at: float) -> int:
        """Add a watched folder; return its id."""
        cursor = self._write(
            "INSERT INTO watches (dir, pattern, options, created_at) VALUES (?, ?, ?, ?)",
            (dir, pattern, _dumps(options), at),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def list_watches(self) -> list[WatchRecord]:
        """Every watched folder, oldest first."""
        rows = self._conn.execute(
            "SELECT id, dir, pattern, options, created_at FROM watches ORDER BY id"
        )
        return [WatchRecord(row[0], row[1], row[2], json.loads(row[3]), row[4]) for row in rows]

    def delete_watch(self, watch_id: int) -> bool:
        """Stop recording a folder as watched; whether it was."""
        return self._write("DELETE FROM watches WHERE id = ?", (watch_id,)).rowcount > 0

    def insert_watch_file(
        self, *, watch_id: int, dir: str, name: str, identity: str, run_id: int, at: float
    ) -> None:
        """Record that ``name`` was picked up from the watch as run ``run_id``."""
        self._write(
            "INSERT INTO watch_files (watch_id, dir, name, identity, run_id, picked_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (watch_id, dir, name, identity, run_id, at),
        )

    def unfiled_watch_files(self, watch_id: int | None = None) -> list[WatchFileRecord]:
        """Files picked up whose run has not been filed under done/ or failed/ yet."""
        sql = (
            "SELECT id, watch_id, dir, name, identity, run_id, picked_at, filed_at, filed_to"
            " FROM watch_files WHERE filed_at IS NULL"
        )
        params: tuple[Any, ...] = ()
        if watch_id is not None:
            sql += " AND watch_id = ?"
            params = (watch_id,)
        return [WatchFileRecord(*row) for row in self._conn.execute(sql + " ORDER BY id", params)]

    def watch_file_of_run(self, run_id: int) -> WatchFileRecord | None:
        """The picked-up file that ``run_id`` runs, if it came from a watched folder."""
        row = self._conn.execute(
            "SELECT id, watch_id, dir, name, identity, run_id, picked_at, filed_at, filed_to"
            " FROM watch_files WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        return WatchFileRecord(*row) if row else None

    def watch_file_filed(self, file_id: int, filed_to: str, at: float) -> None:
        """Note where a picked-up file went when its run ended."""
        self._write(
            "UPDATE watch_files SET filed_at = ?, filed_to = ? WHERE id = ?",
            (at, filed_to, file_id),
        )

    def watch_counts(self) -> dict[int, int]:
        """How many files each watch has picked up."""
        rows = self._conn.execute("SELECT watch_id, COUNT(*) FROM watch_files GROUP BY watch_id")
        return {row[0]: row[1] for row in rows}

    # -- schedules ----------------------------------------------------------------

    def insert_schedule(
        self,
        *,
        spec: str,
        request: dict[str, Any],
        overlap: str,
        misfire_grace: float,
        created_at: float,
        next_fire_at: float | None,
    ) -> int:
        """Add a schedule; return its id."""
        cursor = self._write(
            "INSERT INTO schedules (spec, request, overlap, misfire_grace, created_at,"
            " next_fire_at) VALUES (?, ?, ?, ?, ?, ?)",
            (spec, _dumps(request), overlap, misfire_grace, created_at, next_fire_at),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def get_schedule(self, schedule_id: int) -> ScheduleRecord | None:
        """The schedule ``schedule_id``, or ``None``."""
        row = self._conn.execute(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE id = ?", (schedule_id,)
        ).fetchone()
        return _schedule_from_row(row) if row else None

    def list_schedules(self) -> list[ScheduleRecord]:
        """Every schedule, oldest first."""
        rows = self._conn.execute(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules ORDER BY id")
        return [_schedule_from_row(row) for row in rows]

    def update_schedule(self, schedule_id: int, **fields: Any) -> None:
        """Set a schedule's state fields (next fire, last run, paused, note...)."""
        unknown = fields.keys() - _SCHEDULE_MUTABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = ", ".join(f"{key} = ?" for key in fields)
        self._write(
            f"UPDATE schedules SET {assignments} WHERE id = ?", (*fields.values(), schedule_id)
        )

    def delete_schedule(self, schedule_id: int) -> bool:
        """Remove a schedule; whether it existed."""
        return self._write("DELETE FROM schedules WHERE id = ?", (schedule_id,)).rowcount > 0
