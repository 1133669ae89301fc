"""Learn when processes end without polling: a pidfd per process on the event loop.

pidfds work for any process, not only children, so a job adopted after a daemon
restart is watched exactly like one this daemon spawned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable


class ExitWatcher:
    """Calls a callback once when a watched process ends."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch on ``loop``."""
        self._loop = loop
        self._fds: dict[int, int] = {}

    def watch(self, pid: int, on_exit: Callable[[int], None]) -> None:
        """Call ``on_exit(pid)`` when ``pid`` ends (soon, if it has already ended)."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._loop.call_soon(on_exit, pid)
            return
        self._fds[pid] = fd
        self._loop.add_reader(fd, self._fire, pid, on_exit)

    def _fire(self, pid: int, on_exit: Callable[[int], None]) -> None:
        self.unwatch(pid)
        # Reap it if it is our child; an adopted shim is reaped by its new parent.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        on_exit(pid)

    def send_signal(self, pid: int, sig: int) -> None:
        """Signal a watched process through its pidfd: never another that reused its pid."""
        fd = self._fds.get(pid)
        if fd is None:
            return  # not watched: it had ended when it was to be watched
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, sig)

    def unwatch(self, pid: int) -> None:
        """Stop watching ``pid`` (the process keeps running)."""
        fd = self._fds.pop(pid, None)
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)

    def close(self) -> None:
        """Stop watching everything."""
        for pid in list(self._fds):
            self.unwatch(pid)
