"""``evd.preempted()``: whether this attempt follows one that evd preempted. Standard library only.

A preemptible job (``Job(..., preemptible=True)``, ``evd run --preemptible``)
may be stopped for a run of higher priority (SIGTERM, then SIGKILL after the
grace period) and queued again; its next attempt runs with
``EVD_PREEMPTED=1``. Save progress under ``EVD_OUTPUT_DIR`` when SIGTERM comes
and pick it up when ``preempted()`` says so (``examples/checkpoint.py``).
"""

from __future__ import annotations

import os


def preempted() -> bool:
    """Whether evd preempted this run's last attempt (its checkpoint is worth reading)."""
    return os.environ.get("EVD_PREEMPTED") == "1"
