"""argparse types that keep the parser's own message ("bad duration ...: use 30m, 1h")."""

from __future__ import annotations

from evd.units import parse_duration, parse_size

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from typing import NoReturn


def refused(message: str) -> NoReturn:
    """Refuse an option's word with ``message``, as argparse reports a type's error.

    argparse is imported here, on a mistake only: the hot commands parse
    their usual words without it (``evd.cli.spec``).
    """
    import argparse  # noqa: PLC0415

    raise argparse.ArgumentTypeError(message)


def duration(text: str) -> float:
    """A duration option (``30m``)."""
    try:
        return parse_duration(text)
    except ValueError as error:
        refused(str(error))


def size(text: str) -> int:
    """A size option (``4GiB``)."""
    try:
        return parse_size(text)
    except ValueError as error:
        refused(str(error))


def label(text: str) -> tuple[str, str]:
    """``KEY=VALUE``: a label (the daemon checks the key and value)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        refused(f"expected a label such as team=vision, not {text!r}")
    return key, value
