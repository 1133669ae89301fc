"""The catalogue tables: built environments and named volumes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from evd.models import RunState
from evd.store.connection import Connection
from evd.store.connection import dumps as _dumps
from evd.store.records import EnvRecord, VolumeRecord


class CatalogTable(Connection):
    """Environments and volumes."""

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
