"""Who held what, when: each attempt of the runs that ran in a recent window (the GPU timeline)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from evd.models import ACTIVE_STATES, RunState
from evd.store.connection import Connection

# States in which a run may have run before and may run again.
_ACTIVE = tuple(sorted(state.value for state in ACTIVE_STATES))


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
        running = RunState.RUNNING.value
        devices: dict[str, tuple[int, ...]] = {}  # a few distinct lists: parsed once each
        attempts: list[Attempt] = []
        begun: dict[int, Attempt] = {}  # run -> its open attempt
        for run_id, event, at, gpus, name, state, run_gpus in rows:
            opened = begun.pop(run_id, None)
            if opened is not None:
                attempts.append(Attempt(run_id, name, state, opened.start, at, opened.gpus))
            if event == running:
                text = gpus or run_gpus or "[]"
                held = devices.get(text)
                if held is None:
                    held = devices[text] = tuple(json.loads(text))
                begun[run_id] = Attempt(run_id, name, state, at, None, held)
        attempts.extend(begun.values())
        attempts.sort(key=lambda a: a.start)
        return [a for a in attempts if a.end is None or a.end >= since]
