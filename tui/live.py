"""The events follower: one thread that reads the daemon's events stream and reconnects.

It posts ``RunChanged`` for every stored state change, ``ProgressReported``
for progress, and ``ConnectionChanged`` when the daemon appears or goes
away. On reconnecting it asks for the events after the last one it saw, so a
daemon restart loses nothing (event ids are rows in the daemon's store).

A plain daemon thread, not a Textual worker: a stream read blocks until the
next event or keepalive, and Textual's thread workers run in the loop's
default executor, whose shutdown would make quitting wait for that read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.message import Message

from evd.errors import EvdError
from evd.models import Run
from tui.backend import BackendFactory
from tui.messages import ConnectionChanged, ProgressReported, RunChanged

FIRST_RETRY = 0.25  # seconds; doubled per failed try up to LAST_RETRY
LAST_RETRY = 2.0


class EventFollower:
    """Follows the events stream in a thread, posting what it reads as messages."""

    def __init__(
        self,
        connect: BackendFactory,
        post: Callable[[Message], object],
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """Read through backends made by ``connect``; ``post`` each message."""
        self._connect = connect
        self._post = post
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_event: int | None = None

    def start(self) -> None:
        """Start following (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="evd-events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop posting; the thread ends at its next read."""
        self._stop.set()

    def _follow(self) -> None:
        retry = FIRST_RETRY
        while not self._stop.is_set():
            problem = self._follow_once()
            if self._stop.is_set():
                return
            if problem is None:  # connected and then the stream ended: try again quickly
                retry = FIRST_RETRY
                problem = "evd stopped"
            self._post(ConnectionChanged(None, problem))
            self._sleep(retry)
            retry = min(retry * 2, LAST_RETRY)

    def _follow_once(self) -> str | None:
        """Connect and read until the stream ends (``None``) or fails (the reason)."""
        try:
            backend = self._connect()
            health = backend.health(timeout=2.0)
            if self.last_event is None:
                self.last_event = health.last_event
            self._post(ConnectionChanged(health, None))
            for payload in backend.events(after=self.last_event, progress=True):
                if self._stop.is_set():
                    return None
                if payload.get("kind") == "progress":
                    detail = {k: v for k, v in payload.items() if k not in ("kind", "run_id")}
                    progress = float(detail.pop("progress", 0.0) or 0.0)
                    self._post(ProgressReported(int(payload["run_id"]), progress, detail))
                    continue
                self.last_event = int(payload["id"])
                if payload.get("run") is not None:
                    self._post(RunChanged(Run.from_dict(payload["run"])))
        except (EvdError, OSError) as exc:
            return str(exc) or type(exc).__name__
        return None
