"""When schedules fire: parsing, next fire times and the misfire rule, on given times only."""

from __future__ import annotations

import pytest

from evd.daemon.triggers import timing

NOW = 1_900_000_123.0


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("  0   3 * *  1-5 ", "0 3 * * 1-5"),
        ("@daily", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
        ("every 90s", "every 1m30s"),
        ("@every 2h", "every 2h"),
        ("every 1.5s", "every 1.5s"),
    ],
)
def test_schedules_are_read_into_one_stored_form(text: str, stored: str) -> None:
    assert timing.parse(text).text() == stored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("61 * * * *", "higher than the maximum value"),
        ("* * *", "expected a cron expression of 5 fields"),
        ("every 0.5s", "at most once a second"),
        ("every soon", "bad duration 'soon'"),
        ("@fortnightly", "expected a cron expression"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(timing.ScheduleError, match=message):
        timing.parse(text)


def test_cron_fires_on_its_minutes_whatever_the_local_zone() -> None:
    spec = timing.parse("*/5 * * * *")
    first = timing.next_fire(spec, NOW, 0.0)
    assert first is not None and 0 < first - NOW <= 300 and first % 300 == 0
    assert timing.next_fire(spec, first, 0.0) == first + 300  # strictly after a fire time


def test_an_interval_counts_from_its_start() -> None:
    spec = timing.parse("every 10s")
    assert timing.next_fire(spec, NOW, NOW) == NOW + 10
    assert timing.next_fire(spec, NOW + 10, NOW) == NOW + 20
    assert timing.next_fire(spec, NOW + 14.5, NOW) == NOW + 20


def test_on_time_fires_fire() -> None:
    spec = timing.parse("every 10s")
    due = timing.decide(spec, NOW + 10, NOW + 10.2, NOW, grace=0)
    assert due == timing.Due(fire=True, missed=0, next_fire_at=NOW + 20)


def test_missed_fires_coalesce_into_one_run_within_the_grace_else_are_skipped() -> None:
    spec = timing.parse("every 10s")
    # Fires at +10 ... +60 passed while evd was down; it is now +65.
    within = timing.decide(spec, NOW + 10, NOW + 65, NOW, grace=60)
    assert (within.fire, within.missed, within.next_fire_at) == (True, 6, NOW + 70)
    assert within.note == "6 fire(s) missed (55s late): ran once"
    over = timing.decide(spec, NOW + 10, NOW + 65, NOW, grace=30)
    assert (over.fire, over.missed, over.next_fire_at) == (False, 6, NOW + 70)
    assert over.note == "6 fire(s) missed (55s late, over the misfire grace of 30s): skipped"
