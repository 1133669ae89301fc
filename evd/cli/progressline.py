"""The progress bar ``evd run -f`` keeps on the terminal's last line while the log scrolls.

A thread reads the run's progress from the events stream (its own connection)
and redraws the bar on stderr; the log printer clears the bar before each
chunk of output and redraws it after, under one lock, so the two never mix.
Only drawn when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator

from evd.cli.output import progress_bar
from evd.errors import EvdError

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from typing import Any, TextIO

CLEAR = "\r\x1b[K"


class ProgressLine:
    """The bar for one run, drawn on ``stream``."""

    def __init__(
        self,
        run_id: int,
        events: Callable[[], Iterator[dict[str, Any]]],
        stream: TextIO = sys.stderr,
    ) -> None:
        """Follow ``run_id``'s progress from ``events()`` (an events stream with progress)."""
        self.run_id = run_id
        self.events = events
        self.stream = stream
        self.lock = threading.Lock()
        self.line = ""
        self._thread = threading.Thread(target=self._follow, daemon=True, name="progress")

    def start(self) -> None:
        """Begin following (in the background)."""
        self._thread.start()

    def _follow(self) -> None:
        with contextlib.suppress(EvdError, OSError, ValueError):
            for event in self.events():
                if event.get("run_id") != self.run_id:
                    continue
                if event.get("kind") == "progress":
                    detail = {k: v for k, v in event.items() if k not in ("kind", "run_id")}
                    self.show(progress_bar(float(event["progress"]), detail))
                elif event.get("state") not in (None, "running", "starting"):
                    self.show("")
                    return

    def show(self, line: str) -> None:
        """Replace the bar with ``line`` ('' removes it)."""
        with self.lock:
            self.line = line
            self.stream.write(CLEAR + line)
            self.stream.flush()

    @contextlib.contextmanager
    def around_output(self) -> Iterator[None]:
        """Clear the bar for a write to the terminal, then draw it again."""
        with self.lock:
            if self.line:
                self.stream.write(CLEAR)
                self.stream.flush()
            try:
                yield
            finally:
                if self.line:
                    self.stream.write(self.line)
                    self.stream.flush()
