"""A watched folder at run time, the bridge from watchdog's thread, and the filing words."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import ObservedWatch

from evd.daemon.submit.validate import validate
from evd.errors import InvalidRequest
from evd.models import TRIGGER_OPTIONS, SubmitRequest
from evd.store import RunRecord
from evd.store.records import WatchRecord

IGNORED_SUFFIXES = ("~", ".tmp", ".part", ".swp", ".swx", ".crdownload")
IGNORED_EVENTS = frozenset({"deleted", "opened", "closed_no_write"})


@dataclass
class Watched:
    """A watch at run time: its record, its observer handle, and what it has to say."""

    record: WatchRecord
    handle: ObservedWatch | None = None
    note: str | None = None
    active: set[str] = field(default_factory=set)  # names picked up whose run is not filed yet

    def matches(self, name: str) -> bool:
        """Whether a file name is one this watch runs."""
        if name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
            return False
        return fnmatch.fnmatch(name, self.record.pattern)


# touched(watch_id, path, is_directory), called on the loop.
Touched = Callable[[int, str, bool], None]


class Forwarder(FileSystemEventHandler):
    """Hands watchdog's events (its thread) to the loop."""

    def __init__(self, touched: Touched, watch_id: int, loop: asyncio.AbstractEventLoop) -> None:
        """Forward events of watch ``watch_id`` to ``touched`` on ``loop``."""
        self._touched = touched
        self._watch_id = watch_id
        self._loop = loop

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Forward an event that may make something new to run."""
        if event.event_type in IGNORED_EVENTS and not event.is_directory:
            return  # reading or removing a file makes nothing new to run
        path = getattr(event, "dest_path", "") or event.src_path
        path = os.fsdecode(path)
        with contextlib.suppress(RuntimeError):  # the loop closed as evd stops
            self._loop.call_soon_threadsafe(self._touched, self._watch_id, path, event.is_directory)


def footer(run_id: int, run: RunRecord | None) -> str:
    """The last line of a filed log: how the run ended."""
    if run is None:
        return f"evd: run {run_id} is no longer recorded (pruned)"
    text = f"evd: run {run_id} {run.state.value}"
    if run.exit_code is not None:
        text += f" (exit {run.exit_code})"
    if run.reason:
        text += f": {run.reason}"
    return text


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """A trigger's run options, checked as a submit would check them."""
    unknown = sorted(set(options) - set(TRIGGER_OPTIONS))
    if unknown:
        raise InvalidRequest(
            f"unknown run option(s) {', '.join(unknown)}; a trigger may set:"
            f" {', '.join(TRIGGER_OPTIONS)}"
        )
    kept = {key: value for key, value in options.items() if value is not None}
    try:
        validate(SubmitRequest(command=["true"], cwd="/", **kept))
    except TypeError as error:
        raise InvalidRequest(f"bad run options: {error}") from None
    return kept
