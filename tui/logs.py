"""The log follower: one thread per open run page, reading the run's log as it grows.

Like the events follower it is a daemon thread, since a follow read blocks
until the job writes. Bytes are decoded incrementally, so a character split
between two chunks is not mangled.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable

from textual.message import Message

from evd.errors import EvdError
from tui.backend import BackendFactory
from tui.messages import LogChunk


class LogFollower:
    """Reads one run's log (following it while the run lives) and posts ``LogChunk``."""

    def __init__(
        self, connect: BackendFactory, run_id: int, post: Callable[[Message], object]
    ) -> None:
        """Follow run ``run_id``'s log through a backend made by ``connect``."""
        self._connect = connect
        self._run_id = run_id
        self._post = post
        self._stop = threading.Event()

    def start(self) -> None:
        """Start reading in a thread."""
        threading.Thread(target=self._read, name=f"evd-log-{self._run_id}", daemon=True).start()

    def stop(self) -> None:
        """Stop posting; the thread ends at its next chunk."""
        self._stop.set()

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        problem = ""
        try:
            for chunk in self._connect().logs(self._run_id, follow=True):
                if self._stop.is_set():
                    return
                text = decoder.decode(chunk)
                if text:
                    self._post(LogChunk(self._run_id, text))
        except (EvdError, OSError) as exc:
            problem = f"\n[log not followed further: {exc}]\n"
        if not self._stop.is_set():
            self._post(LogChunk(self._run_id, decoder.decode(b"", final=True) + problem, True))
