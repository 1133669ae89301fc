"""Estimates: how long a run should take, from the runs like it that succeeded before.

Each run's kind (``evd.estimates.alike_key``) is fixed at submit and kept in its
spec; a run that succeeds adds its duration to ``run_durations`` (a ledger
run-end listener). The newest durations of each kind are kept in memory once
asked for, so the scheduler's planning and every ``evd show`` read no SQL after
the first time.
"""

from __future__ import annotations

import contextlib
from collections import deque

from evd.daemon.core.ledger import Ledger
from evd.errors import StorageError
from evd.estimates import HISTORY, estimate
from evd.models import RunState
from evd.store import RunRecord


class Estimates:
    """Run-time estimates by kind, learned as runs succeed."""

    def __init__(self, ledger: Ledger) -> None:
        """Learn from and record into ``ledger``'s store."""
        self.ledger = ledger
        self._durations: dict[str, deque[float]] = {}

    def of(self, alike: str | None) -> float | None:
        """The estimate for runs of kind ``alike`` (``None``: no history)."""
        if alike is None:
            return None
        return estimate(self._history(alike))

    def samples(self, alike: str | None) -> int:
        """How many past runs the estimate of ``alike`` comes from."""
        return 0 if alike is None else len(self._history(alike))

    def for_record(self, record: RunRecord) -> float | None:
        """The estimate for ``record`` (its kind is in its spec)."""
        return self.of((record.spec or {}).get("alike"))

    def _history(self, alike: str) -> deque[float]:
        known = self._durations.get(alike)
        if known is None:
            found = self.ledger.store.durations(alike, HISTORY)
            known = self._durations[alike] = deque(reversed(found), maxlen=HISTORY)
        return known

    def run_ended(self, run_id: int, state: RunState) -> None:
        """A run ended: a success teaches its kind how long it takes (a ledger listener)."""
        if state is not RunState.SUCCEEDED:
            return
        record = self.ledger.get(run_id)
        alike = (record.spec or {}).get("alike")
        if alike is None or record.started_at is None or record.ended_at is None:
            return
        if record.cached_from is not None:
            return  # it took a cached result: it says nothing about the work
        seconds = max(0.0, record.ended_at - record.started_at)
        self._history(alike).append(seconds)
        with contextlib.suppress(StorageError):  # degraded: the history misses one run
            self.ledger.write(lambda store: store.put_duration(alike, run_id, seconds))

    def reset(self) -> None:
        """Forget what was read (recovery; the store is the truth)."""
        self._durations.clear()
