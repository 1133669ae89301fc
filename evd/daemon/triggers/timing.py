"""When schedules fire: parsing ``--cron``/``--every``, next fire times, and the misfire rule.

Pure functions of the times given (no clock of their own), so the policies are
tested with a fake clock. Fire times come from APScheduler 3's triggers
(``CronTrigger``, ``IntervalTrigger``); cron expressions are read in the
machine's local time zone, as cron reads them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from evd.units import format_duration, parse_duration

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

# cron's nicknames, which APScheduler's crontab parser does not read.
NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_EVERY = re.compile(r"^(?:@?every\s+)(\S+)$", re.IGNORECASE)
MIN_INTERVAL = 1.0
OVERLAP_POLICIES = ("skip", "queue")
DEFAULT_MISFIRE_GRACE = 3600.0


class ScheduleError(ValueError):
    """A schedule that cannot be read (says what would be)."""


@dataclass(frozen=True)
class Spec:
    """A parsed schedule: ``cron`` with an expression, or ``every`` with seconds."""

    kind: str
    cron: str | None = None
    seconds: float | None = None

    def text(self) -> str:
        """The canonical form stored and shown (``*/5 * * * *``, ``every 10s``)."""
        if self.kind == "every":
            assert self.seconds is not None
            return f"every {compact(self.seconds)}"
        assert self.cron is not None
        return self.cron


def compact(seconds: float) -> str:
    """``90`` → ``1m30s``, ``7200`` → ``2h``: an interval as it would be typed."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts) or "0s"


def parse(text: str) -> Spec:
    """``*/5 * * * *``, ``@daily`` or ``every 10m``; ``ScheduleError`` says what is wrong."""
    cleaned = " ".join(text.split())
    every = _EVERY.match(cleaned)
    if every:
        try:
            seconds = parse_duration(every.group(1))
        except ValueError as error:
            raise ScheduleError(f"schedule {text!r}: {error}") from None
        if seconds < MIN_INTERVAL:
            raise ScheduleError(f"schedule {text!r}: fire at most once a second")
        return Spec("every", seconds=seconds)
    cron = NICKNAMES.get(cleaned.lower(), cleaned)
    if len(cron.split()) != 5:
        raise ScheduleError(
            f"schedule {text!r}: expected a cron expression of 5 fields"
            " (minute hour day month weekday, e.g. '0 * * * *'), @daily, or 'every 10m'"
        )
    try:
        _trigger(cron, None, 0.0)
    except ValueError as error:
        raise ScheduleError(f"schedule {text!r}: {error}") from None
    return Spec("cron", cron=cron)


@lru_cache(maxsize=256)
def _trigger(cron: str | None, seconds: float | None, start: float) -> BaseTrigger:
    # APScheduler and tzlocal (~3 MiB with importlib.metadata and email) are imported
    # on the first schedule read: a daemon without schedules never needs them.
    import tzlocal  # noqa: PLC0415
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415
    from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

    zone = tzlocal.get_localzone()
    if cron is not None:
        return CronTrigger.from_crontab(cron, timezone=zone)
    assert seconds is not None
    return IntervalTrigger(
        seconds=seconds, start_date=dt.datetime.fromtimestamp(start, zone), timezone=zone
    )


def next_fire(spec: Spec, after: float, start: float) -> float | None:
    """The first fire time strictly after ``after`` (an interval counts from ``start``)."""
    trigger = _trigger(spec.cron, spec.seconds, start)
    import tzlocal  # noqa: PLC0415 (imported by _trigger already)

    zone = tzlocal.get_localzone()
    moment = dt.datetime.fromtimestamp(after, zone)
    fire = trigger.get_next_fire_time(None, moment)
    if fire is not None and fire.timestamp() <= after:
        # Triggers may answer ``after`` itself; the fire at ``after`` has happened.
        fire = trigger.get_next_fire_time(fire, moment + dt.timedelta(microseconds=1))
    return fire.timestamp() if fire is not None else None


@dataclass(frozen=True)
class Due:
    """What to do about a schedule whose fire time has come (``decide``)."""

    fire: bool  # submit a run now
    missed: int  # fire times that passed without a run (0 when on time)
    next_fire_at: float | None
    note: str | None = None


# A fire this late counts as missed (the daemon was down, the machine asleep).
LATE = 5.0


def decide(spec: Spec, due_at: float, now: float, start: float, grace: float) -> Due:
    """The misfire rule: fires missed are coalesced into one run if the first is within grace.

    On time (``now`` within ``LATE`` s of ``due_at``) it simply fires. Later than
    that, every fire time up to ``now`` was missed: one run stands for all of
    them if ``now - due_at <= grace``; otherwise they are skipped, and said so.
    """
    following = next_fire(spec, now, start)
    if now - due_at <= LATE:
        return Due(True, 0, following)
    missed = 0
    moment: float | None = due_at
    while moment is not None and moment <= now and missed < 10_000:
        missed += 1
        moment = next_fire(spec, moment, start)
    late = format_duration(now - due_at)
    if now - due_at <= grace:
        return Due(True, missed, following, f"{missed} fire(s) missed ({late} late): ran once")
    return Due(
        False,
        missed,
        following,
        f"{missed} fire(s) missed ({late} late, over the misfire grace of"
        f" {format_duration(grace)}): skipped",
    )
