"""Read how a job ended from the shim's ``exit`` file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from evd.runner.shim import EXIT_FILE
from evd.sdk.launch import MAIN_EXIT_FILE


@dataclass(frozen=True)
class Outcome:
    """The exit status the shim recorded and when it recorded it."""

    exit_code: int
    ended_at: float
    oom_kills: int = 0  # processes the kernel killed for memory in the job's scope


def read_outcome(run_dir: Path) -> Outcome | None:
    """The recorded outcome, or ``None`` if the shim recorded none (or was cut off mid-write)."""
    path = run_dir / EXIT_FILE
    try:
        with open(path, "rb") as handle:
            text = handle.read()
            ended_at = os.fstat(handle.fileno()).st_mtime
    except OSError:
        return None
    if not text.endswith(b"\n"):
        return None
    # "STATUS" from every shim; "STATUS OOM_KILLS" from one under a systemd scope.
    words = text.split()
    try:
        kills = int(words[1]) if len(words) > 1 else 0
        return Outcome(exit_code=int(words[0]), ended_at=ended_at, oom_kills=kills)
    except (IndexError, ValueError):
        return None


def read_main_exit(run_dir: Path) -> int | None:
    """The exit code the job's own code finished with (``evd.sdk.launch``), if it got that far."""
    try:
        text = (run_dir / MAIN_EXIT_FILE).read_text()
    except OSError:
        return None
    return int(text) if text.endswith("\n") and text.strip().lstrip("-").isdigit() else None
