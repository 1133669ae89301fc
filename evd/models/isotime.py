"""Times on the API's wire (ISO 8601, UTC, microseconds) read back into Unix times.

Standard library only, and ``datetime`` only for a time not written as evd
writes them: ``import datetime`` costs an ``evd ps`` more than reading its
rows does.
"""

from __future__ import annotations

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_SHAPE = "0000-00-00T00:00:00.000000+00:00"  # what evd.models.states.iso writes


def _days_since_epoch(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _fits(mark: str, char: str) -> bool:
    """Whether ``char`` is what ``_SHAPE`` has at that place (``0``: any ASCII digit)."""
    return char in "0123456789" if mark == "0" else char == mark


def _as_evd_writes(text: str) -> float | None:
    """The Unix time of ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``; ``None`` for any other text."""
    if len(text) != len(_SHAPE) or not all(map(_fits, _SHAPE, text)):
        return None
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN_MONTH[month - 1] + (month == 2 and leap):
        return None
    if year == 0 or hour > 23 or minute > 59 or second > 59:
        return None
    seconds = _days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    # As datetime's timestamp() computes it (timedelta.total_seconds), to the last bit.
    return (seconds * 10**6 + int(text[20:26])) / 10**6


def parse_iso(text: str) -> float:
    """Parse an ISO 8601 time from the API into a Unix time."""
    seconds = _as_evd_writes(text)
    if seconds is not None:
        return seconds
    from datetime import datetime  # noqa: PLC0415 - a time evd did not write

    return datetime.fromisoformat(text).timestamp()
