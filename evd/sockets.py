"""Unix socket paths of any length (the kernel limits ``sun_path`` to 108 bytes).

A long path is reached through ``/proc/self/fd/N/NAME``, where ``N`` is an
``O_PATH`` descriptor of the socket's folder: short for the kernel, same file.
Standard library only, and not ``contextlib``: every ``evd`` command connects.
"""

from __future__ import annotations

import os

_MAX_SUN_PATH = 100


class reachable_path:
    """``with reachable_path(path) as short:`` a path to ``bind``/``connect`` that reaches ``path``.

    A class, not a ``contextlib`` generator: every ``evd`` command connects.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Reach ``path`` (whatever its length) while the ``with`` lasts."""
        self._path = os.fspath(path)
        self._fd: int | None = None

    def __enter__(self) -> str:
        """The path to use: ``path`` itself when it is short enough."""
        text = self._path
        if len(os.fsencode(text)) < _MAX_SUN_PATH or not os.path.isdir("/proc/self/fd"):
            return text
        self._fd = os.open(os.path.dirname(text), os.O_PATH | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._fd}/{os.path.basename(text)}"

    def __exit__(self, *_exc: object) -> None:
        """Close the folder's descriptor, if one was opened."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
