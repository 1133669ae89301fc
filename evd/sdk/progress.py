"""Report a job's progress to evd: ``evd.progress(done, total)`` (standard library only).

The report goes to ``$EVD_RUN_DIR/progress.json`` (written whole, then
renamed into place, by a background thread), which the daemon reads at each
sample. Calls more often than every quarter second are folded into the next
write, so a tight loop can report every item for next to nothing. Outside an
evd run the call does nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from typing import Any

from evd.sdk.rundir import write_run_file

PROGRESS_FILE = "progress.json"
MIN_INTERVAL = 0.25  # seconds between writes


class _Writer:
    """Writes the latest report from a background thread, at most every ``MIN_INTERVAL``.

    Callers (Daft's event threads among them) only hand over a dict: no file
    I/O, and so no wait for the GIL after it, on their path. The last report
    is written at exit too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._ready = threading.Event()
        self._owner = 0  # the pid whose thread is running (a forked child starts its own)

    def submit(self, fields: dict[str, Any]) -> None:
        with self._lock:
            self._pending = fields
            if self._owner != os.getpid():
                self._owner = os.getpid()
                threading.Thread(target=self._run, daemon=True, name="evd-progress").start()
                atexit.register(self.flush)
        self._ready.set()

    def _run(self) -> None:
        while True:
            self._ready.wait()
            self.flush()
            time.sleep(MIN_INTERVAL)  # reports meanwhile fold into the next write

    def flush(self) -> None:
        with self._lock:
            fields, self._pending = self._pending, None
            self._ready.clear()
        if fields is not None:
            _write(fields)


def _write(fields: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # progress is a nicety: never fail the job over it
        write_run_file(PROGRESS_FILE, json.dumps({**fields, "at": time.time()}))


_writer = _Writer()


def report(fields: dict[str, Any]) -> None:
    """Make ``fields`` the run's progress (written within ``MIN_INTERVAL``, and at exit)."""
    if os.environ.get("EVD_RUN_DIR"):
        _writer.submit(fields)


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
    report(fields)
