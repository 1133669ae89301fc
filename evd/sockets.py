"""Unix socket paths of any length (the kernel limits ``sun_path`` to 108 bytes).

A long path is reached through ``/proc/self/fd/N/NAME``, where ``N`` is an
``O_PATH`` descriptor of the socket's folder: short for the kernel, same file.
Standard library only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_MAX_SUN_PATH = 100


@contextlib.contextmanager
def reachable_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a path for ``bind``/``connect`` that reaches ``path`` whatever its length."""
    text = os.fspath(path)
    if len(os.fsencode(text)) < _MAX_SUN_PATH or not os.path.isdir("/proc/self/fd"):
        yield text
        return
    fd = os.open(os.path.dirname(text), os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{os.path.basename(text)}"
    finally:
        os.close(fd)
