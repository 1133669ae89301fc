"""The result cache's table: a key, the run whose result it keeps, and how often it served."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evd.models import RunState
from evd.store.connection import Connection
from evd.store.records import CacheEntry

_COLUMNS = "key, run_id, created_at, hits, last_hit_at"


def _entry(row: Sequence[Any]) -> CacheEntry:
    return CacheEntry(key=row[0], run_id=row[1], created_at=row[2], hits=row[3], last_hit_at=row[4])


class CacheTable(Connection):
    """Cached results, each the result of one succeeded run."""

    def put_cached(self, key: str, run_id: int, at: float) -> None:
        """Keep ``run_id``'s result for ``key`` (a later run of the same key replaces it)."""
        self._write(
            "INSERT OR REPLACE INTO cache (key, run_id, created_at, hits) VALUES (?, ?, ?, 0)",
            (key, run_id, at),
        )

    def cached(self, key: str) -> CacheEntry | None:
        """The entry for ``key`` whose run still stands as succeeded, or ``None``."""
        row = self._conn.execute(
            "SELECT cache.key, cache.run_id, cache.created_at, cache.hits, cache.last_hit_at"
            " FROM cache JOIN runs ON runs.id = cache.run_id"
            " WHERE cache.key = ? AND runs.state = ?",
            (key, RunState.SUCCEEDED.value),
        ).fetchone()
        return _entry(row) if row else None

    def note_cache_hit(self, key: str, at: float) -> None:
        """Count a run served from ``key``'s entry."""
        self._write("UPDATE cache SET hits = hits + 1, last_hit_at = ? WHERE key = ?", (at, key))

    def list_cached(self) -> list[CacheEntry]:
        """Every entry, newest first."""
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM cache ORDER BY created_at DESC")
        return [_entry(row) for row in rows]

    def forget_cached(self, keys: Sequence[str]) -> int:
        """Remove the entries of ``keys``; how many there were."""
        removed = 0
        for key in keys:
            removed += self._write("DELETE FROM cache WHERE key = ?", (key,)).rowcount
        return removed

    def cached_before(self, at: float) -> list[str]:
        """The keys of entries made before ``at`` and not used since."""
        rows = self._conn.execute(
            "SELECT key FROM cache WHERE COALESCE(last_hit_at, created_at) < ?", (at,)
        )
        return [key for (key,) in rows]

    def keyed_runs(self, states: Sequence[RunState]) -> dict[int, str]:
        """Runs in ``states`` that carry a cache key, by id (those whose success files one)."""
        marks = ", ".join("?" * len(states))
        rows = self._conn.execute(
            f"SELECT id, cache_key FROM runs WHERE cache_key IS NOT NULL AND state IN ({marks})"
            " AND cached_from IS NULL",
            tuple(state.value for state in states),
        )
        return {run_id: key for run_id, key in rows}

    def runs_with_key(self, key: str, states: Sequence[RunState]) -> list[int]:
        """The runs carrying ``key`` in ``states``, oldest first (identical runs in flight)."""
        marks = ", ".join("?" * len(states))
        rows = self._conn.execute(
            f"SELECT id FROM runs WHERE cache_key = ? AND state IN ({marks}) ORDER BY id",
            (key, *(state.value for state in states)),
        )
        return [run_id for (run_id,) in rows]
