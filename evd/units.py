"""Parse and format the durations and sizes people type (``30m``, ``4GiB``).

Standard library only: the CLI and the SDK share it.
"""

from __future__ import annotations

GIB = 1024**3

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# Patterns as text: ``re`` is imported (and caches them) when a word needs one, since
# every `evd` command imports this module and most parse no duration or size.
_DURATION_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)"

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = r"(\d+(?:\.\d+)?)\s*([a-z]*)"


def parse_duration(text: str) -> float:
    """Parse ``90``, ``1.5s``, ``30m``, ``1h30m`` or ``2d`` into seconds.

    A bare number is seconds. Raises ``ValueError`` with the accepted forms.
    """
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        import re  # noqa: PLC0415

        pos, seconds = 0, 0.0
        for match in re.finditer(_DURATION_PART, value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
        if pos != len(value) or not value:
            raise ValueError(
                f"bad duration {text!r}: use a number of seconds or units like 90s, 30m, 1h30m, 2d"
            ) from None
    if seconds < 0:
        raise ValueError(f"bad duration {text!r}: it must not be negative")
    return seconds


def duration_setting(value: object) -> float:
    """A duration as a config file gives it: a number of seconds, or text such as ``1m``.

    Raises ``ValueError`` for anything else (``true`` included).
    """
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"not a duration: {value!r}")


def parse_size(text: str) -> int:
    """Parse ``512MiB``, ``4GiB``, ``1.5GB`` or a byte count into bytes."""
    import re  # noqa: PLC0415

    match = re.fullmatch(_SIZE, text.strip().lower())
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"bad size {text!r}: use bytes or units like 512MiB, 4GiB, 1.5GB")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def format_duration(seconds: float) -> str:
    """Format seconds compactly for tables: ``850ms``, ``42s``, ``3m07s``, ``2h05m``, ``3d04h``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def format_size(count: float) -> str:
    """Format bytes in binary units: ``512 B``, ``1.5 KiB``, ``24.0 GiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
