"""Keep a run's log under its cap by cutting the middle, keeping the head and the tail.

The job appends to the log through its own ``O_APPEND`` descriptor, so the file
can be shortened under it: its next write lands at the new end. Bytes written
in the instant between reading the tail and truncating are lost, and the marker
says a cut happened there.
"""

from __future__ import annotations

import os
from pathlib import Path

from evd.runner.shim import LOG_FILE


def cap_log(path: Path, limit: int) -> int:
    """If ``path`` exceeds ``limit`` bytes, cut its middle; return the bytes removed.

    Keeps the first half of ``limit`` and the last quarter, so the log can grow
    another quarter before the next cut (each cut copies only the tail).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size <= limit:
        return 0
    head, tail = limit // 2, limit // 4
    with open(path, "rb") as reader:
        reader.seek(size - tail)
        kept_tail = reader.read(tail)
    removed = size - head - len(kept_tail)
    os.truncate(path, head)
    # Append mode, like the job's own descriptor: neither can overwrite the other.
    with open(path, "ab") as writer:
        writer.write(f"\n[evd: log over its cap, {removed} bytes cut here]\n".encode())
        writer.write(kept_tail)
    return removed


def note_in_log(run_dir: Path, text: str) -> None:
    """Append one line from evd to a run's log (``evd: ...``); a log that is gone is left so."""
    try:
        with open(run_dir / LOG_FILE, "a", encoding="utf-8") as out:
            out.write(text + "\n")
    except OSError:
        pass
