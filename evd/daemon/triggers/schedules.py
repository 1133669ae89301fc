"""Schedules: a job file (or command) submitted on a cron expression or every N seconds.

The schedules are rows of evd's database (``schedules``), never a pickled job
store: each row keeps its next fire time, so a restarted daemon knows what it
missed. One timer on the daemon's loop wakes at the earliest fire time (at
least every ``MAX_SLEEP`` seconds, so a clock jump or a suspended machine is
noticed); fire times and the misfire rule come from ``evd.daemon.triggers.timing``
(APScheduler 3's cron and interval triggers). A fire submits through the one
submit path, as ``evd run`` does, with the environment and the working
directory of the shell the schedule was added from (``evd.daemon.triggers.environ``;
a schedule added without an environment gets the daemon's, as cron).

* **Misfires** (evd down, the machine asleep): the fires missed become one run
  if the first was at most ``misfire_grace`` ago, else they are skipped; either
  way the schedule's note says so.
* **Overlap**, while the last fire's run is still going: ``skip`` (the default;
  noted) or ``queue`` (one fire waits and is submitted when that run ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from evd.daemon.core.gate import Gate
from evd.daemon.core.intake import Intake
from evd.daemon.core.ledger import Ledger
from evd.daemon.submit.validate import validate
from evd.daemon.triggers import environ, timing
from evd.errors import Conflict, EvdError, InvalidRequest, NotFound
from evd.models import TRIGGER_OPTIONS, RunState, ScheduleRequest, SubmitRequest, iso
from evd.store.records import ScheduleRecord

log = logging.getLogger("evd.schedules")

MAX_SLEEP = 60.0
KIND = "schedule"  # for its file of hidden variables
# SubmitRequest fields a schedule keeps (the environment is kept apart: see `add`).
KEPT_FIELDS = ("command", "file", "function", "args", "cwd", *TRIGGER_OPTIONS)


class Schedules:
    """Every schedule of the daemon and the one timer that fires them."""

    def __init__(
        self, ledger: Ledger, intake: Intake, gate: Gate, clock: Callable[[], float] = time.time
    ) -> None:
        """Schedules in ``ledger``'s store, fired through ``intake``; ``start`` arms the timer."""
        self.ledger = ledger
        self.intake = intake
        self.gate = gate
        self.clock = clock
        self._timer: asyncio.TimerHandle | None = None
        self._firing: set[int] = set()  # schedules whose fire is being submitted
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._queued_behind: set[int] = set()  # runs a queued fire waits for

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Fire what is due (applying the misfire rule) and arm the timer."""
        self._started = True
        self._queued_behind = {
            r.last_run_id
            for r in self.ledger.store.list_schedules()
            if r.pending and r.last_run_id is not None
        }
        self.ledger.on_run_end(self.run_ended)
        self.wake()

    def stop(self) -> None:
        """Disarm the timer (the schedules stay recorded)."""
        self._started = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- the API's operations ---------------------------------------------------------

    async def add(self, request: ScheduleRequest) -> ScheduleRecord:
        """Check and record a schedule; its first fire is the first time after now."""
        self.gate.check()
        if request.overlap not in timing.OVERLAP_POLICIES:
            raise InvalidRequest(f"overlap must be skip or queue, not {request.overlap!r}")
        if request.misfire_grace < 0:
            raise InvalidRequest("the misfire grace is a number of seconds, 0 or more")
        run = dataclasses.replace(request.run, cwd=request.run.cwd or os.getcwd())
        job = validate(run)
        declared = None
        secret_names: list[str] = []
        if job.file is not None:
            # Read the file now: a mistake is better said at `schedule add` than at 3 am.
            prepared = await self.intake.dry_run(job, run.environment)
            if prepared.error is not None:
                raise Conflict(f"{os.path.basename(job.file)}: {prepared.error}")
            declared = prepared.spec.get("settings", {}).get("schedule")
            secret_names = prepared.spec.get("secrets", [])
            run.file = job.file  # absolute: the schedule must not depend on a cwd
        text = request.spec or declared
        if not text:
            raise InvalidRequest(
                "when should it run? Give --cron EXPR or --every 10m, or declare it in the file"
                " (Job(..., schedule='0 * * * *'), or schedule = ... under [tool.evd])"
            )
        try:
            spec = timing.parse(text)
        except timing.ScheduleError as error:
            raise InvalidRequest(str(error)) from None
        now = self.clock()
        kept = {key: getattr(run, key) for key in KEPT_FIELDS}
        kept = {key: value for key, value in kept.items() if value not in (None, [])}
        hidden: dict[str, str] = {}
        if run.env is not None:
            patterns = self.intake.preparer.secret_patterns
            kept["env"], hidden = environ.split(run.env, patterns, secret_names)
        schedule_id = self.ledger.write(
            lambda store: store.insert_schedule(
                spec=spec.text(),
                request=kept,
                overlap=request.overlap,
                misfire_grace=request.misfire_grace,
                created_at=now,
                next_fire_at=timing.next_fire(spec, now, now),
            )
        )
        self.ledger.flush()
        environ.save_hidden(self.ledger.state.root, KIND, schedule_id, hidden)
        self._arm()
        return self.get(schedule_id)

    def get(self, schedule_id: int) -> ScheduleRecord:
        """The schedule, or ``RunNotFound`` (404)."""
        record = self.ledger.store.get_schedule(schedule_id)
        if record is None:
            raise NotFound(f"no schedule with id {schedule_id}; `evd schedule ls` lists them")
        return record

    def remove(self, schedule_id: int) -> ScheduleRecord:
        """Delete a schedule (its runs stay)."""
        record = self.get(schedule_id)
        self.ledger.write(lambda store: store.delete_schedule(schedule_id))
        self.ledger.flush()
        environ.forget_hidden(self.ledger.state.root, KIND, schedule_id)
        self._arm()
        return record

    def pause(self, schedule_id: int, paused: bool) -> ScheduleRecord:
        """Pause (no fires, none made up later) or resume from the next fire time after now."""
        record = self.get(schedule_id)
        fields: dict[str, Any] = {"paused": int(paused)}
        if not paused and record.paused:
            now = self.clock()
            fields["next_fire_at"] = timing.next_fire(
                timing.parse(record.spec), now, record.created_at
            )
            fields["pending"] = 0
        self._update(schedule_id, **fields)
        self.ledger.flush()
        self._arm()
        return self.get(schedule_id)

    # -- firing -----------------------------------------------------------------------

    def wake(self) -> None:
        """Handle every schedule whose fire time has come, then re-arm (tests call it too)."""
        self._timer = None
        now = self.clock()
        for record in self.ledger.store.list_schedules():
            if record.paused or record.next_fire_at is None or record.next_fire_at > now:
                continue
            spec = timing.parse(record.spec)
            due = timing.decide(
                spec, record.next_fire_at, now, record.created_at, record.misfire_grace
            )
            fields: dict[str, Any] = {"next_fire_at": due.next_fire_at}
            if due.note:
                fields["note"] = due.note
                log.info("schedule %d: %s", record.id, due.note)
            self._update(record.id, **fields)
            if due.fire:
                self._fire(record, now)
        self._arm()

    def _fire(self, record: ScheduleRecord, now: float) -> None:
        """Submit the schedule's run, unless its last run is still going (the overlap rule)."""
        busy = record.id in self._firing or self._running(record.last_run_id)
        if busy:
            at = iso(now)
            if record.overlap == "queue":
                self._update(
                    record.id, pending=1, note=f"fire at {at} waits for run {record.last_run_id}"
                )
                if record.last_run_id is not None:
                    self._queued_behind.add(record.last_run_id)
            else:
                self._update(
                    record.id,
                    note=f"fire at {at} skipped: run {record.last_run_id} is still going"
                    " (overlap skip)",
                )
            return
        self._firing.add(record.id)
        task = asyncio.ensure_future(self._submit(record, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _running(self, run_id: int | None) -> bool:
        if run_id is None:
            return False
        run = self.ledger.store.get_run(run_id)
        return run is not None and not run.state.is_final

    async def _submit(self, record: ScheduleRecord, now: float) -> None:
        try:
            request = SubmitRequest(**record.request)
            if request.env is not None:
                hidden = environ.load_hidden(self.ledger.state.root, KIND, record.id)
                request.env = {**request.env, **hidden}
            run = await self.intake.submit(request)
            self._update(
                record.id, last_run_id=run.id, last_fire_at=now, fires=record.fires + 1, pending=0
            )
            log.info("schedule %d fired: run %d", record.id, run.id)
        except EvdError as error:  # the file is gone, evd is stopping, the disk is full
            with contextlib.suppress(EvdError):
                self._update(record.id, note=f"fire at {iso(now)} made no run: {error}")
            log.warning("schedule %d: fire made no run: %s", record.id, error)
        finally:
            self._firing.discard(record.id)

    def run_ended(self, run_id: int, state: RunState) -> None:
        """A run ended: a fire queued behind it goes now (a ledger listener)."""
        del state
        if not self._started or run_id not in self._queued_behind:
            return  # most runs: no query on this path
        self._queued_behind.discard(run_id)
        for record in self.ledger.store.list_schedules():
            if record.last_run_id == run_id and record.pending and not record.paused:
                self._fire(dataclasses.replace(record, last_run_id=None), self.clock())

    def _update(self, schedule_id: int, **fields: Any) -> None:
        self.ledger.write(lambda store: store.update_schedule(schedule_id, **fields))

    def _arm(self) -> None:
        """Set the timer for the earliest fire (at most ``MAX_SLEEP`` away)."""
        if not self._started:
            return
        if self._timer is not None:
            self._timer.cancel()
        times = [
            record.next_fire_at
            for record in self.ledger.store.list_schedules()
            if not record.paused and record.next_fire_at is not None
        ]
        delay = MAX_SLEEP
        if times:
            delay = max(0.0, min(MAX_SLEEP, min(times) - self.clock()))
        self._timer = self.ledger.loop.call_later(delay, self.wake)


def describe_what(request: dict[str, Any]) -> str:
    """``FILE[:FUNCTION] ARGS`` or the command, for listings."""
    if request.get("command"):
        return " ".join(request["command"])
    what = os.path.basename(request.get("file", "?"))
    if request.get("function"):
        what += f":{request['function']}"
    return " ".join([what, *request.get("args", [])])
