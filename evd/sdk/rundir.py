"""Files a job leaves for evd in its run folder (``$EVD_RUN_DIR``), standard library only."""

from __future__ import annotations

import os
from pathlib import Path


def write_run_file(name: str, text: str) -> None:
    """Write ``name`` in the run folder whole: to a private name first, then renamed into place.

    evd may read the file at any moment, so it never sees half of one. Does
    nothing outside an evd run; ``OSError`` when the folder cannot be written.
    """
    run_dir = os.environ.get("EVD_RUN_DIR")
    if not run_dir:
        return
    final = Path(run_dir) / name
    partial = final.with_name(f".{name}.{os.getpid()}")  # threads and forks may write too
    partial.write_text(text)
    partial.replace(final)
