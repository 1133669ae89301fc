"""The recorder: writes run state changes, commits them a loop turn at a time, then tells.

Group commit: transitions are written as they happen and committed once per
event-loop turn, so a burst of exits and starts shares one fsync. Only after
the commit are events published and waiters of finished runs woken, so nothing
announced can be taken back by a crash.

Every write of the daemon goes through here, so one guard handles a store that
cannot be written: the store has rolled back, pending events are dropped, and
``on_failure`` is told before the ``StorageError`` goes on to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from evd.daemon.bus import EventBus
from evd.errors import StorageError
from evd.models import RunState
from evd.store import Store
from evd.store.records import EventRecord

T = TypeVar("T")


class Recorder:
    """Every state change of a run goes through here."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        payload: Callable[[EventRecord], dict[str, Any]],
        on_failure: Callable[[StorageError], None],
    ) -> None:
        """Record into ``store``; publish ``payload(event)`` on ``bus`` after each commit."""
        self.store = store
        self.bus = bus
        self._payload = payload
        self._on_failure = on_failure
        self._pending: list[EventRecord] = []
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule flushes on ``loop``."""
        self._loop = loop

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except StorageError as error:  # the store has rolled back everything uncommitted
            self.discard()
            self._on_failure(error)
            raise

    def insert(self, *, at: float, **run: Any) -> int:
        """Add a queued run (``Store.insert_run``'s fields); return its id."""
        with self._guard():
            run_id, event_id = self.store.insert_run(now=at, reason=None, **run)
        self._pending.append(EventRecord(event_id, run_id, RunState.QUEUED, None, at))
        return run_id

    def record(
        self, run_id: int, state: RunState, reason: str | None, at: float, **fields: Any
    ) -> None:
        """Write a transition (and ``fields``); it is committed by the next flush."""
        with self._guard():
            event_id = self.store.transition(run_id, state, reason, at, **fields)
        self._pending.append(EventRecord(event_id, run_id, state, reason, at))
        self.flush_soon()

    def update(self, run_id: int, **fields: Any) -> None:
        """Write fields that are not a state change; committed by the next flush."""
        with self._guard():
            self.store.update(run_id, **fields)
        self.flush_soon()

    def write(self, action: Callable[[Store], T]) -> T:
        """Any other write (envs, volumes), guarded; committed by the next flush."""
        with self._guard():
            result = action(self.store)
        self.flush_soon()
        return result

    def delete(self, run_ids: list[int]) -> None:
        """Delete finished runs and their events, and commit."""
        self.flush()
        with self._guard():
            self.store.delete_runs(run_ids)
        self.flush()

    def flush_soon(self) -> None:
        """Flush at the end of this loop turn (once, however many changes come)."""
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_soon(self._flush_from_loop)

    def _flush_from_loop(self) -> None:
        self._flush_handle = None
        with contextlib.suppress(StorageError):  # already reported to on_failure
            self.flush()

    def flush(self) -> None:
        """Commit now, then publish what was committed and wake waiters of finished runs."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        with self._guard():
            self.store.commit()
        events, self._pending = self._pending, []
        for event in events:
            if self.bus.has_subscribers:
                self.bus.publish(self._payload(event))
            if event.state.is_final:
                for future in self._waiters.pop(event.run_id, []):
                    if not future.done():
                        future.set_result(None)

    def discard_uncommitted(self) -> None:
        """Roll back writes not yet committed (a submit that could not finish)."""
        self.store.rollback()
        self.discard()

    def discard(self) -> None:
        """Forget pending events: the store rolled their writes back."""
        self._pending.clear()

    async def wait(self, run_id: int, timeout: float) -> None:
        """Return once a final state of ``run_id`` is committed, or after ``timeout``."""
        assert self._loop is not None, "attach() first"
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.setdefault(run_id, []).append(future)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(run_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(run_id, None)

    def release_waiters(self, error: Callable[[int], Exception]) -> None:
        """Fail every wait at once with ``error(run_id)`` (the daemon is stopping)."""
        waiters, self._waiters = self._waiters, {}
        for run_id, futures in waiters.items():
            for future in futures:
                if not future.done():
                    future.set_exception(error(run_id))
