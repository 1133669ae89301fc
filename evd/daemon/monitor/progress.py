"""Read how far running jobs are: their progress file, or tqdm bars in their output.

A job reports through ``$EVD_RUN_DIR/progress.json`` (``evd.progress()`` and
evd's Daft subscriber write it, see ``evd.sdk.progress``). A job that does
neither but draws tqdm-style bars (``45%|████▌     | 45/100 [...]``) is read
from the new bytes of its log. Called off the event loop at each sample; it
keeps, per run, the file's last change time and how far into the log it read,
so each call costs a ``stat`` and the log's new bytes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evd.runner.shim import LOG_FILE
from evd.sdk.progress import PROGRESS_FILE

LOG_WINDOW = 64 * 1024  # at most this much new log is scanned per sample
_BAR = re.compile(
    rb"(?P<percent>\d{1,3})%\|[^|\r\n]{0,200}\|\s*"
    rb"(?:(?P<done>\d+(?:\.\d+)?[kMG]?)/(?P<total>\d+(?:\.\d+)?[kMG]?))?"
)
_SCALE = {b"k": 1e3, b"M": 1e6, b"G": 1e9}


def _number(text: bytes) -> float:
    scale = _SCALE.get(text[-1:], 1.0)
    return float(text[:-1] if scale != 1.0 else text) * scale


def bar_progress(output: bytes) -> dict[str, Any] | None:
    """The last tqdm-style bar in ``output`` as a progress report, or ``None``."""
    last = None
    for last in _BAR.finditer(output):  # noqa: B007  (the last match is the one wanted)
        pass
    if last is None:
        return None
    fields: dict[str, Any] = {"progress": min(100, int(last["percent"])) / 100, "source": "output"}
    if last["done"] and last["total"]:
        fields.update(done=_number(last["done"]), total=_number(last["total"]))
    return fields


@dataclass
class _Seen:
    """What was read of one run so far."""

    file_mtime: float = 0.0
    log_offset: int = 0
    from_file: bool = False  # the job reports itself: its output is not scanned


class ProgressReader:
    """Reads the progress of live runs, reporting only what changed."""

    def __init__(self) -> None:
        """Nothing read yet."""
        self._seen: dict[int, _Seen] = {}
        self._last: dict[int, dict[str, Any]] = {}

    def read(self, runs: dict[int, Path]) -> dict[int, dict[str, Any]]:
        """New progress reports of ``runs`` (run id -> run dir), by run."""
        for run_id in set(self._seen) - set(runs):
            self._seen.pop(run_id, None)
            self._last.pop(run_id, None)
        changed: dict[int, dict[str, Any]] = {}
        for run_id, run_dir in runs.items():
            seen = self._seen.setdefault(run_id, _Seen())
            fields = self._from_file(run_dir, seen)
            if fields is None and not seen.from_file:
                fields = self._from_log(run_dir, seen)
            if fields is not None and fields != self._last.get(run_id):
                self._last[run_id] = fields
                changed[run_id] = fields
        return changed

    @staticmethod
    def _from_file(run_dir: Path, seen: _Seen) -> dict[str, Any] | None:
        path = run_dir / PROGRESS_FILE
        try:
            mtime = path.stat().st_mtime
            if mtime == seen.file_mtime:
                return None
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        seen.file_mtime, seen.from_file = mtime, True
        if not isinstance(data, dict) or not isinstance(data.get("progress"), int | float):
            return None
        data.pop("at", None)
        data["progress"] = min(1.0, max(0.0, float(data["progress"])))
        return data

    @staticmethod
    def _from_log(run_dir: Path, seen: _Seen) -> dict[str, Any] | None:
        try:
            with open(run_dir / LOG_FILE, "rb") as log:
                size = os.fstat(log.fileno()).st_size
                if size < seen.log_offset:  # the log was cut (evd's cap): read its tail
                    seen.log_offset = 0
                start = max(seen.log_offset, size - LOG_WINDOW)
                log.seek(start)
                new = log.read(size - start)
        except OSError:
            return None
        seen.log_offset = size
        return bar_progress(new) if new else None
