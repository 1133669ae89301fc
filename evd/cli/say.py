"""The CLI's one line on stderr (a module of its own: every command imports it, cheaply)."""

from __future__ import annotations

import sys


def error(message: str) -> None:
    """One line on stderr: ``evd: MESSAGE``."""
    print(f"evd: {message}", file=sys.stderr)
