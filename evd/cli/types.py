"""argparse types that keep the parser's own message ("bad duration ...: use 30m, 1h")."""

from __future__ import annotations

from evd.units import parse_duration, parse_size


def duration(text: str) -> float:
    """A duration option (``30m``)."""
    try:
        return parse_duration(text)
    except ValueError as error:
        import argparse  # noqa: PLC0415 - only to say what is wrong

        raise argparse.ArgumentTypeError(str(error)) from None


def size(text: str) -> int:
    """A size option (``4GiB``)."""
    try:
        return parse_size(text)
    except ValueError as error:
        import argparse  # noqa: PLC0415 - only to say what is wrong

        raise argparse.ArgumentTypeError(str(error)) from None
