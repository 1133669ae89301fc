"""How long succeeded runs took, by what they ran: the history run-time estimates learn from."""

from __future__ import annotations

from evd.store.connection import Connection


class DurationsTable(Connection):
    """One row per succeeded run: its ``alike`` key (``evd.estimates``) and its seconds."""

    def put_duration(self, alike: str, run_id: int, seconds: float) -> None:
        """Remember that ``run_id`` (of kind ``alike``) succeeded after ``seconds``."""
        self._write(
            "INSERT OR REPLACE INTO run_durations (alike, run_id, seconds) VALUES (?, ?, ?)",
            (alike, run_id, seconds),
        )

    def durations(self, alike: str, limit: int) -> list[float]:
        """The newest ``limit`` durations of runs of kind ``alike``, newest first."""
        rows = self._conn.execute(
            "SELECT seconds FROM run_durations WHERE alike = ? ORDER BY run_id DESC LIMIT ?",
            (alike, limit),
        )
        return [float(seconds) for (seconds,) in rows]
