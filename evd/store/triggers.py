"""The trigger tables: watched folders, the files they picked up, and schedules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from evd.store.connection import Connection
from evd.store.connection import dumps as _dumps
from evd.store.records import ScheduleRecord, WatchFileRecord, WatchRecord

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


class TriggersTable(Connection):
    """Watches, their picked-up files, and schedules."""

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
