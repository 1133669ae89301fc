"""Who held what, when: each attempt of the runs that ran in a recent window (the GPU timeline)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from evd.models import RunState
from evd.store.connection import Connection

# States in which a run may have run before and may run again.
_ACTIVE = tuple(
    s.value for s in (RunState.RUNNING, RunState.QUEUED, RunState.STAGING, RunState.BUILDING)
)


@dataclass(frozen=True)
class Attempt:
    """One attempt of a run: from its ``running`` event to the run's next event."""

    run_id: int
    name: str
    state: str  # the run's state now
    start: float
    end: float | None  # None: it runs now
    gpus: tuple[int, ...]  # the devices it held (none: CPU only)


class SpansTable(Connection):
    """Reads attempts from the events (``0012_attempt_devices`` stores each one's GPUs)."""

    def attempts_since(self, since: float) -> list[Attempt]:
        """Each attempt that ran at some moment after ``since``, in the order they began."""
        marks = ",".join("?" * len(_ACTIVE))
        rows = self._conn.execute(
            f"""
            SELECT e.run_id, e.state, e.at, e.gpus, r.name, r.state, r.gpus
            FROM run_events e JOIN runs r ON r.id = e.run_id
            WHERE e.run_id IN (
                SELECT id FROM runs WHERE ended_at >= ?
                UNION
                SELECT id FROM runs WHERE state IN ({marks}) AND started_at IS NOT NULL
            )
            ORDER BY e.id
            """,
            (since, *_ACTIVE),
        )
        attempts: list[Attempt] = []
        open_: dict[int, Attempt] = {}
        for run_id, event, at, gpus, name, state, run_gpus in rows:
            begun = open_.pop(run_id, None)
            if begun is not None:
                attempts.append(Attempt(run_id, name, state, begun.start, at, begun.gpus))
            if event == RunState.RUNNING.value:
                devices = json.loads(gpus or run_gpus or "[]")
                open_[run_id] = Attempt(run_id, name, state, at, None, tuple(devices))
        attempts.extend(open_.values())
        attempts.sort(key=lambda a: a.start)
        return [a for a in attempts if a.end is None or a.end >= since]
