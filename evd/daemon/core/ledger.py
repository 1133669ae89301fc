"""The ledger: every write of the daemon, its group commit, waiters and run-end listeners.

Group commit: transitions are written as they happen and committed together
at most ``COMMIT_WINDOW`` later (at once when a submit commits), so the starts
and ends of a busy queue share one fsync instead of one each. Only after the
commit are events published and waiters of finished runs woken, so nothing
announced can be taken back by a crash. What waits in the window is what a
crash could not lose anyway: a start or an end is also in the run's shim
records, which recovery reads.

Every write of the daemon goes through here, so one guard handles a store that
cannot be written: the store has rolled back, pending events are dropped, and
``on_failure`` is told before the ``StorageError`` goes on to the caller.

A run that reaches a final state is announced, right after its write, to the
run-end listeners registered at wiring time, in their order: the dependants
of the run, the triggers that filed it, the notifier. Reads for the other parts
(``get``, ``get_group``) live here too, with the error a person reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from evd.daemon.core.bus import EventBus
from evd.daemon.submit import secrets
from evd.errors import RunNotFound, ShuttingDown, StorageError
from evd.models import FINAL_STATES, FailedBy, RunState
from evd.paths import StateDir
from evd.runner.logcap import note_in_log
from evd.store import GroupRecord, RunRecord, Store
from evd.store.records import EventRecord

T = TypeVar("T")

RunEndListener = Callable[[int, RunState], None]

# How long a write may wait for others to share its commit. Short beside a
# person or a script waiting on the event; on the 2-core machine a no-op job
# ends ~2 ms after it starts, so a start and an end usually share one fsync.
COMMIT_WINDOW = 0.005


class Ledger:
    """Every state change of a run, and every other write, goes through here."""

    def __init__(
        self,
        state: StateDir,
        store: Store,
        bus: EventBus,
        *,
        payload: Callable[[EventRecord], dict[str, Any]],
        on_failure: Callable[[StorageError], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Record into ``store``; publish ``payload(event)`` on ``bus`` after each commit.

        ``on_failure(error)`` is told when a write or a commit fails (the store
        has rolled back): recovery takes it from there.
        """
        self.state = state
        self.store = store
        self.bus = bus
        self.clock = clock
        self._payload = payload
        self._on_failure = on_failure
        self._pending: list[EventRecord] = []
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._run_end: list[RunEndListener] = []
        self._closed = False  # waiters released: evd is stopping
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule flushes on ``loop``."""
        self._loop = loop

    @property
    def attached(self) -> bool:
        """Whether ``attach`` has given the ledger a loop."""
        return self._loop is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the daemon runs on (after ``attach``)."""
        assert self._loop is not None, "attach() first"
        return self._loop

    def on_run_end(self, listener: RunEndListener) -> None:
        """Call ``listener(run_id, state)`` whenever a run reaches a final state (on the loop)."""
        self._run_end.append(listener)

    # -- reads --------------------------------------------------------------------------

    def get(self, run_id: int) -> RunRecord:
        """The run, or ``RunNotFound``."""
        record = self.store.get_run(run_id)
        if record is None:
            raise RunNotFound(f"no run with id {run_id}; `evd ps --all` lists runs")
        return record

    def get_group(self, group_id: int) -> GroupRecord:
        """The group, or ``RunNotFound``."""
        group = self.store.get_group(group_id)
        if group is None:
            raise RunNotFound(f"no group with id {group_id}; `evd ps --all` lists groups")
        return group

    # -- writes -------------------------------------------------------------------------

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
        """Write a transition (and ``fields``), committed by the next flush.

        A final one is announced to the run-end listeners at once.
        """
        with self._guard():
            event_id = self.store.transition(run_id, state, reason, at, **fields)
        self._pending.append(EventRecord(event_id, run_id, state, reason, at))
        self.flush_soon()
        if state.is_final:
            for listener in self._run_end:
                listener(run_id, state)

    def fail_before_start(self, run_id: int, reason: str, failed_by: FailedBy) -> None:
        """Record a run that never started; its log says why too (watched folders file it)."""
        run_dir = self.state.run_dir(run_id)
        secrets.forget_for_run(run_dir)
        note_in_log(run_dir, f"evd: {reason}")
        now = self.clock()
        self.record(run_id, RunState.FAILED, reason, now, ended_at=now, failed_by=failed_by)

    def update(self, run_id: int, **fields: Any) -> None:
        """Write fields that are not a state change; committed by the next flush."""
        with self._guard():
            self.store.update(run_id, **fields)
        self.flush_soon()

    def write(self, action: Callable[[Store], T]) -> T:
        """Any other write (envs, volumes, triggers), guarded; committed by the next flush."""
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

    def prune(self, older_than: float) -> int:
        """Delete finished runs that ended over ``older_than`` seconds ago, and their folders."""
        run_ids = self.store.finished_before(self.clock() - older_than, FINAL_STATES)
        self.delete(run_ids)
        for run_id in run_ids:
            shutil.rmtree(self.state.run_dir(run_id), ignore_errors=True)
        return len(run_ids)

    def flush_soon(self) -> None:
        """Flush within ``COMMIT_WINDOW`` (once, however many changes come meanwhile)."""
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_later(COMMIT_WINDOW, self._flush_from_loop)

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

    @contextlib.contextmanager
    def undoable(self) -> Iterator[None]:
        """Writes in the block (a submit's) are undone alone if it raises.

        The writes pending before it (other runs' starts and ends) stay, to be
        committed with the rest: a submit that fails takes back only itself.
        """
        mark = len(self._pending)
        try:
            with self._guard(), self.store.savepoint():
                yield
        except BaseException:
            del self._pending[mark:]
            raise

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

    async def wait_final(self, run_id: int, timeout: float) -> RunRecord:
        """The run once it is final, or as it is after ``timeout`` seconds."""
        if self._closed:  # came in as evd stops: waiters are released, the store closing
            raise _stopping(run_id)
        record = self.get(run_id)
        if record.state.is_final:
            return record
        await self.wait(run_id, timeout)
        if self._closed:  # the store may be closing under us
            raise _stopping(run_id)
        return self.get(run_id)

    async def wait_group(self, group_id: int, timeout: float) -> GroupRecord:
        """The group once all its runs are final, or as it is after ``timeout`` seconds."""
        assert self._loop is not None, "attach() first"
        group = self.get_group(group_id)
        deadline = self._loop.time() + timeout
        for record in self.store.group_runs(group_id):
            left = deadline - self._loop.time()
            if left <= 0:
                break
            if not record.state.is_final:
                await self.wait_final(record.id, left)
        return group

    def release_waiters(self) -> None:
        """Fail every wait at once, and every later one (the daemon is stopping)."""
        self._closed = True
        waiters, self._waiters = self._waiters, {}
        for run_id, futures in waiters.items():
            for future in futures:
                if not future.done():
                    future.set_exception(_stopping(run_id))


def _stopping(run_id: int) -> ShuttingDown:
    """What a client waiting on ``run_id`` is told when evd stops."""
    return ShuttingDown(
        f"evd is stopping; run {run_id} carries on under its shim."
        " Start evd again with `evd up`, then wait again."
    )
