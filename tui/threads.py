"""Handing a worker thread's result back to the app's own thread."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from textual.message_pump import MessagePump


def deliver(node: MessagePump, callback: Callable[..., object], *args: Any) -> None:
    """Call ``callback(*args)`` on the app's thread, if ``node`` is still on screen then.

    A worker's answer can arrive while the app is quitting (its widgets half
    taken down) or after the screen it was for was closed: it is dropped then.
    """

    def if_attached() -> None:
        # return_code is set once the app is quitting (an App is always "attached").
        if node.is_attached and node.app.return_code is None:
            callback(*args)

    with contextlib.suppress(RuntimeError):  # the app has stopped already
        node.app.call_from_thread(if_attached)
