"""Report a job's progress to evd: ``evd.progress(done, total)`` (standard library only).

The report goes to ``$EVD_RUN_DIR/progress.json`` (written whole, then
renamed into place), which the daemon reads at each sample. Calls more often
than every quarter second are folded into the next one, so a tight loop can
report every item for free. Outside an evd run the call does nothing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

PROGRESS_FILE = "progress.json"
MIN_INTERVAL = 0.25  # seconds between writes


class _Throttle:
    """When the last report was written (one per process, shared by threads)."""

    lock = threading.Lock()
    last_write = 0.0


def progress(done: float, total: float | None = None, message: str | None = None) -> None:
    """Say how far the job is: ``done`` of ``total`` (or a fraction 0..1 when ``total`` is None).

    ``message`` is a short note shown beside the progress (``"epoch 3"``).
    """
    fraction = done if total is None else (done / total if total else 0.0)
    fields: dict[str, Any] = {"progress": min(1.0, max(0.0, float(fraction))), "source": "sdk"}
    if total is not None:
        fields.update(done=done, total=total)
    if message:
        fields["message"] = str(message)[:200]
    report(fields, force=fraction >= 1.0)


def report(fields: dict[str, Any], *, force: bool = False) -> None:
    """Write ``fields`` as the run's progress, at most every ``MIN_INTERVAL`` unless ``force``."""
    run_dir = os.environ.get("EVD_RUN_DIR")
    if not run_dir:
        return
    now = time.monotonic()
    with _Throttle.lock:
        if not force and now - _Throttle.last_write < MIN_INTERVAL:
            return
        _Throttle.last_write = now
        final = Path(run_dir) / PROGRESS_FILE
        partial = final.with_name(f".{PROGRESS_FILE}.{os.getpid()}")
        try:
            partial.write_text(json.dumps({**fields, "at": time.time()}))
            partial.replace(final)
        except OSError:
            pass  # progress is a nicety: never fail the job over it
