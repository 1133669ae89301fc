"""Where evd's state dir is, as plain strings.

``evd.paths.StateDir`` is the full layout; this is the part every CLI command
needs (the socket) without ``pathlib``, whose import (with ``urllib.parse``)
costs several milliseconds of each command's start. Standard library only.
"""

from __future__ import annotations

import os
import sys

SOCKET_NAME = "evd.sock"


def home_dir() -> str:
    """``$EVD_HOME`` made absolute, else the platform's user data dir for evd."""
    explicit = os.environ.get("EVD_HOME")
    if explicit:
        expanded = os.path.expanduser(explicit)
        return expanded if os.path.isabs(expanded) else os.path.join(os.getcwd(), expanded)
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "evd")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return os.path.join(data_home, "evd")


def socket_path(home: str | None = None) -> str:
    """The API socket of the state dir ``home`` (default: ``home_dir()``)."""
    return os.path.join(home or home_dir(), SOCKET_NAME)
