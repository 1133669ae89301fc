"""Watched folders: a file dropped into one becomes a run, and is filed when the run ends.

watchdog's inotify observer reports changes from its own thread; everything
else happens on the daemon's loop. The rules:

* **Complete files only.** Any event for a matching name (created, written,
  closed, moved into place) makes it a *candidate*; a candidate is picked up
  once it has been quiet for ``QUIET`` seconds and no process has it open for
  writing (one pass over ``/proc`` for all due candidates). A file renamed into
  place is complete at once; one still being written waits until it is closed.
* **Exactly once.** The row that records a pickup is written in the same commit
  as the file's run, and a name with an unfiled row is never picked up again.
  After a restart, unfiled rows say which files in the folder are already runs.
* **Nothing missed.** Files already in the folder when the watch starts (or
  that arrived while the daemon was down) are candidates too.
* **Filing.** When the run ends, its output (and build log) goes to
  ``done/NAME.log`` or ``failed/NAME.log``, then the script moves beside it;
  see ``evd.daemon.triggers.watchfs.file_away``.
* **A folder that goes away** is noted (``evd watch ls``) and watched again
  when it is back. Hidden names (``.x``) and editors' temporary files are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from pathlib import Path
from typing import Any

from evd.daemon.core.intake import Intake
from evd.daemon.core.ledger import Ledger
from evd.daemon.envs.builds import BUILD_LOG
from evd.daemon.triggers import environ, watchfs
from evd.daemon.triggers.watched import Forwarder, Watched, check_options, footer
from evd.errors import Conflict, EvdError, InvalidRequest, NotFound
from evd.models import FailedBy, RunState, SubmitRequest, WatchRequest
from evd.runner.shim import LOG_FILE
from evd.store import RunRecord, Store
from evd.store.records import WatchFileRecord, WatchRecord

log = logging.getLogger("evd.watches")

QUIET = 0.5  # seconds without events before a candidate is checked
TICK = 0.25  # how often due candidates are checked
HEALTH_INTERVAL = 2.0  # how often folders are checked for being there
FILED_UNDER = {True: "done", False: "failed"}


KIND = "watch"  # for its file of hidden variables


class Watches:
    """Every watched folder of the daemon, their pickups and their filing."""

    def __init__(self, ledger: Ledger, intake: Intake) -> None:
        """Watches recorded in ``ledger``, submitting through ``intake``; ``start`` begins."""
        self.ledger = ledger
        self.intake = intake
        self.watched: dict[int, Watched] = {}
        self._candidates: dict[tuple[int, str], float] = {}  # (watch, name) -> last event
        self._picking: set[tuple[int, str]] = set()
        self._observer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._health: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._checking = False
        self._runs: set[int] = set()  # runs of picked-up files not filed yet

    @property
    def store(self) -> Store:
        """The store (read here; written through the ledger)."""
        return self.ledger.store

    # -- lifecycle ------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch every recorded folder; file runs that ended while evd was down."""
        self._loop = loop
        unfiled = self.store.unfiled_watch_files()
        for record in self.store.list_watches():
            watched = Watched(record)
            watched.active = {row.name for row in unfiled if row.watch_id == record.id}
            self.watched[record.id] = watched
            self._observe(watched)
        self._runs = {row.run_id for row in unfiled}
        for row in unfiled:
            run = self.store.get_run(row.run_id)
            if run is None or run.state.is_final:
                self._spawn(self._file(row, run))
        self.ledger.on_run_end(self.run_ended)
        self._health = loop.call_later(HEALTH_INTERVAL, self._check_folders)

    def stop(self) -> None:
        """Stop watching (files keep their records; the next start carries on)."""
        for handle in (self._tick, self._health):
            if handle is not None:
                handle.cancel()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the API's operations ---------------------------------------------------------

    def add(self, request: WatchRequest) -> Watched:
        """Start watching a folder (recorded, so it survives restarts)."""
        folder = Path(request.dir)
        if not folder.is_absolute():
            raise InvalidRequest(f"the folder must be an absolute path, not {request.dir!r}")
        if not folder.is_dir():
            raise NotFound(f"{folder} is not a folder (create it first)")
        if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            raise Conflict(
                f"evd cannot read and write {folder}: it moves finished scripts into its"
                " done/ and failed/ folders"
            )
        pattern = request.pattern.strip()
        if not pattern or "/" in pattern:
            raise InvalidRequest(f"bad pattern {request.pattern!r}: a file-name glob such as *.py")
        options = check_options(request.options)
        hidden: dict[str, str] = {}
        if request.env is not None:  # the adder's shell, for its runs (hidden values apart)
            patterns = self.intake.preparer.secret_patterns
            options["env"], hidden = environ.split(request.env, patterns)
        for other in self.watched.values():
            if other.record.dir == str(folder) and other.record.pattern == pattern:
                raise Conflict(
                    f"{folder} is already watched for {pattern} (watch {other.record.id})"
                )
        now = self.ledger.clock()
        watch_id = self.ledger.write(
            lambda store: store.insert_watch(
                dir=str(folder), pattern=pattern, options=options, at=now
            )
        )
        self.ledger.flush()
        environ.save_hidden(self.ledger.state.root, KIND, watch_id, hidden)
        record = WatchRecord(watch_id, str(folder), pattern, options, now)
        watched = Watched(record)
        self.watched[watch_id] = watched
        self._observe(watched)
        return watched

    def remove(self, watch_id: int) -> Watched:
        """Stop watching; runs of its files still get filed when they end."""
        watched = self.get(watch_id)
        if watched.handle is not None and self._observer is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(watched.handle)
        self.ledger.write(lambda store: store.delete_watch(watch_id))
        self.ledger.flush()
        environ.forget_hidden(self.ledger.state.root, KIND, watch_id)
        del self.watched[watch_id]
        for key in [key for key in self._candidates if key[0] == watch_id]:
            del self._candidates[key]
        return watched

    def get(self, watch_id: int) -> Watched:
        """The watch, or ``RunNotFound`` (404)."""
        watched = self.watched.get(watch_id)
        if watched is None:
            raise NotFound(f"no watch with id {watch_id}; `evd watch ls` lists them")
        return watched

    # -- watching ---------------------------------------------------------------------

    def _started_observer(self) -> Any:
        """The folder observer (watchdog's), started on the first folder to watch.

        Imported and started here, not at daemon start: a daemon without
        watches keeps neither its thread nor its ~2 MiB of modules.
        """
        if self._observer is None:
            from watchdog.observers import Observer  # noqa: PLC0415 (see the docstring)

            observer = Observer()
            observer.daemon = True
            observer.start()
            self._observer = observer
        return self._observer

    def _observe(self, watched: Watched) -> None:
        """Schedule the folder with the observer and take what is already in it."""
        folder = watched.record.dir
        if not os.path.isdir(folder):
            watched.note = f"{folder} does not exist; evd watches it again once it is back"
            return
        assert self._loop is not None
        try:
            watched.handle = self._started_observer().schedule(
                Forwarder(self.touched, watched.record.id, self._loop), folder, recursive=False
            )
        except OSError as error:  # e.g. the inotify watch limit
            watched.note = f"evd cannot watch {folder}: {error}"
            log.warning("%s", watched.note)
            return
        watched.note = None
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            self.touched(watched.record.id, os.path.join(folder, name), False)

    def touched(self, watch_id: int, path: str, is_directory: bool) -> None:
        """An event for ``path``: a matching file there becomes a candidate (on the loop)."""
        watched = self.watched.get(watch_id)
        if watched is None:
            return
        folder, name = os.path.split(path)
        if folder != watched.record.dir:
            if is_directory and path == watched.record.dir:
                self._check_folders(reschedule=False)
            return
        if is_directory or not watched.matches(name) or name in watched.active:
            return
        assert self._loop is not None
        self._candidates[(watch_id, name)] = self._loop.time()
        if self._tick is None:
            self._tick = self._loop.call_later(TICK, self._settle)

    def _settle(self) -> None:
        """Check the candidates that have been quiet long enough."""
        assert self._loop is not None
        self._tick = None
        now = self._loop.time()
        due = [key for key, last in self._candidates.items() if now - last >= QUIET]
        if due and not self._checking:
            self._checking = True
            self._spawn(self._check(due))
        if self._candidates:
            self._tick = self._loop.call_later(TICK, self._settle)

    async def _check(self, due: list[tuple[int, str]]) -> None:
        """Pick up the due candidates that are complete; keep the others waiting."""
        paths = {
            os.path.join(self.watched[w].record.dir, name): (w, name)
            for w, name in due
            if w in self.watched
        }
        try:
            busy = await asyncio.to_thread(watchfs.open_for_writing, set(paths))
        finally:
            self._checking = False
        assert self._loop is not None
        now = self._loop.time()
        for path, key in paths.items():
            last = self._candidates.get(key)
            if last is None or now - last < QUIET or key in self._picking:
                continue  # taken meanwhile, or written again: it waits another quiet period
            if path in busy:
                continue  # still being written: wait for it to be closed
            del self._candidates[key]
            watched = self.watched.get(key[0])
            if watched is None or key[1] in watched.active:
                continue
            ident = watchfs.identity(Path(path))
            if ident is None:
                if os.path.lexists(path):
                    continue  # not a regular file (a folder, a dangling link): not a job
                watched.note = f"{key[1]} was removed before evd could pick it up"
                log.info("watch %d: %s", key[0], watched.note)
                continue
            self._picking.add(key)
            self._spawn(self._pick_up(watched, key[1], ident))

    async def _pick_up(self, watched: Watched, name: str, ident: str) -> None:
        """Submit the file through the one submit path; record the pickup in its commit."""
        record = watched.record
        path = os.path.join(record.dir, name)
        options = dict(record.options)
        env = options.pop("env", None)
        if env is not None:
            env = {**env, **environ.load_hidden(self.ledger.state.root, KIND, record.id)}
        request = SubmitRequest(file=path, cwd=record.dir, env=env, **options)

        def note_pickup(store: Store, run_id: int) -> None:
            store.insert_watch_file(
                watch_id=record.id,
                dir=record.dir,
                name=name,
                identity=ident,
                run_id=run_id,
                at=self.ledger.clock(),
            )
            watched.active.add(name)
            self._runs.add(run_id)

        try:
            run = await self.intake.submit(request, also=note_pickup)
            log.info("watch %d: %s is run %d", record.id, name, run.id)
        except InvalidRequest as error:
            if not os.path.exists(path):
                watched.note = f"{name} was removed before evd could pick it up"
            else:
                watched.note = f"{name} could not be submitted: {error}"
            log.info("watch %d: %s", record.id, watched.note)
        except EvdError as error:  # shutting down, the disk full: picked up next time
            log.warning("watch %d: %s not picked up yet: %s", record.id, name, error)
        finally:
            self._picking.discard((record.id, name))

    def _check_folders(self, reschedule: bool = True) -> None:
        """Notice folders that went away, and watch again those that are back."""
        for watched in self.watched.values():
            here = os.path.isdir(watched.record.dir)
            if not here and watched.handle is not None:
                if self._observer is not None:
                    with contextlib.suppress(KeyError, OSError):
                        self._observer.unschedule(watched.handle)
                watched.handle = None
                watched.note = (
                    f"{watched.record.dir} was removed; evd watches it again once it is back"
                )
                log.warning("watch %d: %s", watched.record.id, watched.note)
            elif here and watched.handle is None:
                self._observe(watched)
        if reschedule and self._loop is not None:
            self._health = self._loop.call_later(HEALTH_INTERVAL, self._check_folders)

    # -- filing -----------------------------------------------------------------------

    def run_ended(self, run_id: int, state: RunState) -> None:
        """A run ended: if it runs a picked-up file, file the file (a ledger listener)."""
        if run_id not in self._runs:
            return  # most runs: no query on this path
        row = self.store.watch_file_of_run(run_id)
        if row is not None and row.filed_at is None:
            self._spawn(self._file(row, self.store.get_run(run_id)))

    async def _file(self, row: WatchFileRecord, run: RunRecord | None) -> None:
        """Write the run's log into done/ or failed/ and move the script beside it."""
        succeeded = run is not None and run.state is RunState.SUCCEEDED
        run_dir = self.ledger.state.run_dir(row.run_id)
        parts = [run_dir / LOG_FILE]
        if run is not None and run.failed_by is FailedBy.BUILD:
            parts.append(run_dir / BUILD_LOG)
        try:
            filing = await asyncio.to_thread(
                functools.partial(
                    watchfs.file_away,
                    Path(row.dir),
                    row.name,
                    row.identity,
                    outcome=FILED_UNDER[succeeded],
                    run_id=row.run_id,
                    log_parts=parts,
                    footer=footer(row.run_id, run),
                )
            )
        except OSError as error:
            note = f"could not file {row.name} (run {row.run_id}): {error}"
            log.warning("%s", note)
            if row.watch_id in self.watched:
                self.watched[row.watch_id].note = note
            return  # left unfiled: the next start tries again
        filed_to = str(filing.script or filing.log)
        self.ledger.write(
            lambda store: store.watch_file_filed(row.id, filed_to, self.ledger.clock())
        )
        self._runs.discard(row.run_id)
        watched = self.watched.get(row.watch_id)
        if watched is not None:
            watched.active.discard(row.name)
            if filing.note:
                watched.note = filing.note
            if filing.script is None:  # written anew meanwhile: that file is a new drop
                self.touched(row.watch_id, os.path.join(row.dir, row.name), False)
