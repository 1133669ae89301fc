"""The groups table: the runs of one fan-out (``evd run --map``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from evd.models import RunState
from evd.store.connection import Connection
from evd.store.connection import dumps as _dumps
from evd.store.records import GroupRecord, RunRecord
from evd.store.runs import RUN_COLUMNS, run_from_row

_GROUP_COLUMNS = "id, name, size, created_at, spec, parent_run"


def _group_from_row(row: Sequence[Any]) -> GroupRecord:
    spec = json.loads(row[4]) if row[4] is not None else None
    return GroupRecord(
        id=row[0], name=row[1], size=row[2], created_at=row[3], spec=spec, parent_run=row[5]
    )


class GroupsTable(Connection):
    """Fan-out groups."""

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
            f"SELECT {RUN_COLUMNS} FROM runs WHERE group_id = ? ORDER BY group_index",
            (group_id,),
        )
        return [run_from_row(row) for row in rows]
