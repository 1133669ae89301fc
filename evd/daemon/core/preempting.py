"""Preempting: runs of higher priority may stop preemptible runs of lower priority.

After each tick, when the first run in line cannot start and preemptible runs
of lower priority hold what it needs, ``evd.preemption.victims`` picks the
fewest of them (the most recently started first, none younger than
``min_run_time``, so nothing thrashes); each is stopped as a cancel is
(SIGTERM to its process group, SIGKILL after the grace period) with the stop
reason ``preempt``. When it has ended, admission puts it back in the queue
("preempted by run 12"); that attempt does not count, and the next one runs
with ``EVD_PREEMPTED=1``. Nothing new is chosen while a preemption is under
way. Runs that are not preemptible are never stopped.

Loans are taken back the same way: a preemptible run that started on what the
blocked head keeps, on its estimate (``evd.scheduler``, point 5), is stopped
and queued again the moment the head would fit without it, whatever its
priority or age, so a wrong estimate never delays the head.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from evd.daemon.core.dispatch import Dispatch
from evd.errors import StorageError
from evd.preemption import Candidate, victims
from evd.runner.logcap import note_in_log
from evd.scheduler import QueuedRun, blocked_head, loans_to_recall

log = logging.getLogger("evd.preempting")

MIN_RUN_TIME = 60.0  # seconds a preemptible run runs before it may be preempted


class Preempting:
    """Stops preemptible runs for a blocked run of higher priority."""

    def __init__(self, dispatch: Dispatch, min_run_time: float = MIN_RUN_TIME) -> None:
        """Act through ``dispatch``; protect runs younger than ``min_run_time`` seconds."""
        self.dispatch = dispatch
        self.min_run_time = min_run_time
        self._for: dict[int, int] = {}  # preempted run -> the run it was stopped for
        self._again: asyncio.TimerHandle | None = None

    def stopped_for(self, run_id: int) -> int | None:
        """The run ``run_id`` was preempted for (once; ``None`` if it was not)."""
        return self._for.pop(run_id, None)

    def check(self) -> None:
        """Preempt what the first blocked run needs, if it may (after each tick)."""
        running = self.dispatch.running
        if self._for:  # a victim that ended as it pleased (not preempted) was never asked for
            self._for = {victim: head for victim, head in self._for.items() if victim in running}
        if not len(self.dispatch.queue) or not running:
            return
        if not any(live.preemptible and not live.stopping for live in running.values()):
            return  # the common case, kept cheap: nothing may be stopped
        if any(live.stopping == "preempt" for live in running.values()):
            return  # one at a time: what is being stopped may be enough
        with contextlib.suppress(StorageError):
            self._check()

    def stopping_for(self, run_id: int) -> list[int]:
        """The runs being stopped so that ``run_id`` can start."""
        return [victim for victim, head in self._for.items() if head == run_id]

    def _check(self) -> None:
        dispatch = self.dispatch
        now = dispatch.clock()
        held_out = dispatch.last_held_out
        queue = dispatch.queue.without(held_out) if held_out else dispatch.queue
        blocked = blocked_head(queue, dispatch.pool, now)
        if blocked is None:
            return
        head = blocked[0]
        records = {
            run_id: dispatch.ledger.get(run_id)
            for run_id, live in dispatch.running.items()
            if live.preemptible and not live.stopping
        }
        priorities = {run_id: record.priority for run_id, record in records.items()}
        recall = loans_to_recall(head, dispatch.pool, priorities)
        if recall:
            self._stop(recall, head, "it borrowed what that run waits for, on its estimate")
            return
        candidates = [
            Candidate(run_id, record.priority, record.started_at, True)
            for run_id, record in records.items()
            if record.started_at is not None and record.priority < head.priority
        ]
        if not candidates:
            return
        chosen = victims(head, dispatch.pool, candidates, now=now, min_run_time=self.min_run_time)
        if chosen is None:
            self._when_older(candidates, now)
            return
        self._stop(chosen, head, f"priority {head.priority}")

    def _stop(self, chosen: list[int], head: QueuedRun, why: str) -> None:
        dispatch = self.dispatch
        for run_id in chosen:
            self._for[run_id] = head.id
            log.info("run %s preempted for run %s (%s)", run_id, head.id, why)
            note_in_log(
                dispatch.ledger.state.run_dir(run_id),
                f"evd: preempted by run {head.id} ({why}): stopping it"
                f" (SIGTERM, then SIGKILL after {dispatch.kill_grace:g} s); it is queued again",
            )
            dispatch.stop_run(run_id, "preempt")

    def _when_older(self, candidates: list[Candidate], now: float) -> None:
        """Look again when the youngest protected candidate comes of age."""
        young = [c.started_at + self.min_run_time - now for c in candidates]
        waits = [wait for wait in young if wait > 0]
        if not waits or (self._again is not None and not self._again.cancelled()):
            return

        def again() -> None:
            self._again = None
            self.dispatch.wake()

        self._again = self.dispatch.loop.call_later(min(waits) + 0.01, again)

    def stop(self) -> None:
        """Look no more (the daemon is stopping)."""
        if self._again is not None:
            self._again.cancel()
            self._again = None
