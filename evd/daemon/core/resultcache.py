"""The result cache: a run that would do what a succeeded run did takes that run's result.

A job asks for it with ``Job(cache=True)`` (or ``Cache(version=..., ignore=[...])``),
``[tool.evd] cache`` or an env file. Its key (``evd.daemon.submit.cachekey``) covers
the code snapshot, the words it runs with, its environment's hash, the variables it
declares, the volumes it reads and the declared version. When a succeeded run left
a result for the key, a new run with that key is recorded ``succeeded`` at once with
``cached_from`` naming that run: its ``result.json`` copied, its output files
hard-linked into the new run's ``outputs/``, its log saying where the result came
from; no process starts. Otherwise the run runs, and its key is kept with it, so
that its success files the entry. Only succeeded runs are cached, and an entry goes
with the run that made it (``evd prune``).

Identical runs in flight compute once (Flyte's ``serialize``): a miss whose key
another active run is computing (its *leader*) is held by admission until the
leader ends. If it succeeded, each waiting run takes its result; if not, the
oldest waiting run runs and the others wait for it. ``evd run --refresh`` runs
regardless and replaces the entry on success.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from evd.daemon.core.ledger import Ledger
from evd.daemon.submit.cachekey import CachePolicy, cache_keys
from evd.daemon.submit.prepared import Prepared
from evd.models import ACTIVE_STATES, RunState
from evd.runner.folders import OUTPUT_DIR
from evd.runner.logcap import note_in_log
from evd.sdk.launch import RESULT_FILE
from evd.store import RunRecord
from evd.store.records import CacheEntry

log = logging.getLogger("evd.cache")


class Twins(Protocol):
    """What the cache may ask of admission about runs waiting for a twin's result."""

    def follow(self, run_id: int, twin: int) -> None:
        """Hold ``run_id`` while ``twin`` computes its result."""

    def take_over(self, run_id: int) -> bool:
        """Stop ``run_id`` waiting anywhere (it takes a result); whether it was waiting for one."""

    def run_alone(self, run_id: int) -> None:
        """``run_id`` waits for no twin any more: it runs once nothing else holds it."""


class ResultCache:
    """Finds, serves and files cached results (through the ledger, like every write)."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.time) -> None:
        """Keep entries in ``ledger``'s store; ``twins`` is set at wiring."""
        self.ledger = ledger
        self.clock = clock
        self.twins: Twins | None = None
        # Active runs that run (or wait) for a key: a run's end costs no read to ask.
        self._keys: dict[int, str] = {}
        self._leaders: dict[str, int] = {}  # the run computing each key
        self._followers: dict[str, list[int]] = {}  # runs waiting for it, oldest first

    def load(self) -> None:
        """Learn the keyed runs a previous daemon left active (before recovery ends them).

        The oldest active run of a key leads; the others wait for it again.
        """
        self._keys, self._leaders, self._followers = {}, {}, {}
        keyed = self.ledger.store.keyed_runs(sorted(ACTIVE_STATES))
        for run_id in sorted(keyed):
            self.join(run_id, keyed[run_id])

    def join(self, run_id: int, key: str, *, refresh: bool = False) -> int | None:
        """``run_id`` is a miss for ``key``: the run it waits for, or ``None`` if it runs.

        Its success files the result. A refresh runs whatever else computes the key.
        """
        self._keys[run_id] = key
        if refresh:
            return None
        leader = self._leaders.setdefault(key, run_id)
        if leader == run_id:
            return None
        self._followers.setdefault(key, []).append(run_id)
        return leader

    def twin_of(self, run_id: int) -> int | None:
        """The run whose result ``run_id`` waits for (admission holds it), if any."""
        key = self._keys.get(run_id)
        if key is None or run_id not in self._followers.get(key, ()):
            return None
        return self._leaders.get(key)

    async def keys_for(
        self, prepared: Prepared, commands: list[list[str]], asked: str | None = None
    ) -> list[str | None]:
        """The keys of ``prepared`` run as each of ``commands`` (``None``s: it does not cache).

        The code snapshot is read once, off the loop: a job may include large files.
        """
        policy = self._policy(prepared, asked)
        if policy is None:
            return [None] * len(commands)
        return list(await asyncio.to_thread(cache_keys, prepared, policy, commands))

    @staticmethod
    def _policy(prepared: Prepared, asked: str | None) -> CachePolicy | None:
        """How ``prepared`` is cached, or ``None`` when it is not."""
        declared = (prepared.spec or {}).get("settings", {}).get("cache")
        if asked == "off" or not (declared or asked) or prepared.error is not None:
            return None
        if prepared.staging is None:  # a command: the files it reads are not known
            prepared.notes.append(
                "its env declares cache, but evd cannot know which files a command reads:"
                " it runs every time (run the file, `evd run job.py`, to cache it)"
            )
            return None
        if isinstance(declared, dict):
            return CachePolicy(str(declared.get("version", "")), tuple(declared.get("ignore", ())))
        return CachePolicy()

    def take_or_join(self, run_id: int, key: str | None, *, refresh: bool = False) -> bool:
        """A stored run with ``key``: serve it a cached result (``True``), or let it run.

        A run that runs joins the runs computing its key (it may wait for one).
        """
        if key is None:
            return False
        source = None if refresh else self.source_for(key)
        if source is not None and self.serve(run_id, source, key):
            return True
        self.join(run_id, key, refresh=refresh)
        return False

    def source_for(self, key: str) -> RunRecord | None:
        """The succeeded run whose result serves ``key``, if its folder is still there."""
        entry = self.ledger.store.cached(key)
        if entry is None or not self.ledger.state.run_dir(entry.run_id).is_dir():
            return None
        return self.ledger.store.get_run(entry.run_id)

    def serve(self, run_id: int, source: RunRecord, key: str) -> bool:
        """Give the stored run ``run_id`` the result of ``source``, and record it succeeded.

        ``False`` (nothing recorded, nothing left behind) when the result could not be
        copied: a full disk, a file gone; the run then runs.
        """
        state = self.ledger.state
        target = state.run_dir(run_id)
        why = f"result taken from run {source.id} (cache)"
        try:
            _copy_result(state.run_dir(source.id), target)
            note_in_log(target, f"evd: {why}")
        except OSError as error:
            log.warning("run %s: run %s's result cannot be taken (%s)", run_id, source.id, error)
            with contextlib.suppress(OSError):
                shutil.rmtree(target / OUTPUT_DIR, ignore_errors=True)
                (target / RESULT_FILE).unlink(missing_ok=True)
                (target / OUTPUT_DIR).mkdir(exist_ok=True)
            return False
        now = self.clock()
        self.ledger.update(run_id, cached_from=source.id)
        self.ledger.write(lambda store: store.note_cache_hit(key, now))
        self.ledger.record(
            run_id, RunState.SUCCEEDED, why, now, exit_code=0, started_at=now, ended_at=now
        )
        return True

    def entries(self) -> list[tuple[CacheEntry, RunRecord]]:
        """Every entry whose run still stands succeeded, newest first, with that run."""
        store = self.ledger.store
        found = []
        for entry in store.list_cached():
            record = store.get_run(entry.run_id)
            if record is not None and record.state is RunState.SUCCEEDED:
                found.append((entry, record))
        return found

    def forget(self, keys: list[str]) -> int:
        """Remove the entries of ``keys`` (their runs stay); how many there were."""
        removed = self.ledger.write(lambda store: store.forget_cached(keys))
        self.ledger.flush()
        return removed

    def prune(self, older_than: float) -> int:
        """Remove the entries made over ``older_than`` s ago and not used since; how many."""
        return self.forget(self.ledger.store.cached_before(self.clock() - older_than))

    def run_ended(self, run_id: int, state: RunState) -> None:
        """A run ended: one that ran for a key and succeeded files its result under it.

        The runs waiting for a leader are settled once the other listeners have
        heard of its end (and, at a start, once recovery has readmitted them).
        """
        key = self._keys.pop(run_id, None)
        if key is None:
            return
        if state is RunState.SUCCEEDED:
            now = self.clock()
            self.ledger.write(lambda store: store.put_cached(key, run_id, now))
        if self._leaders.get(key) == run_id:
            self.ledger.loop.call_soon(self._settle, key, run_id)
        elif run_id in self._followers.get(key, ()):
            self._followers[key].remove(run_id)

    def _settle(self, key: str, leader: int) -> None:
        """``leader`` ended: its followers take its result, or the oldest of them runs."""
        if self._leaders.get(key) != leader or self.twins is None:
            return
        del self._leaders[key]
        followers = self._followers.pop(key, [])
        source = self.source_for(key) if followers else None
        left: list[int] = []
        for run_id in followers:
            if source is None or not self.twins.take_over(run_id):
                left.append(run_id)
                continue
            del self._keys[run_id]  # a served run files nothing
            if not self.serve(run_id, source, key):
                self._keys[run_id] = key
                left.append(run_id)
        if not left:
            return
        new_leader, *rest = left
        self._leaders[key] = new_leader
        if rest:
            self._followers[key] = rest
        for run_id in rest:
            self.twins.follow(run_id, new_leader)
        self.twins.run_alone(new_leader)


def _copy_result(source: Path, target: Path) -> None:
    """``source``'s result file and outputs into ``target`` (outputs hard-linked where possible)."""
    if (source / RESULT_FILE).exists():
        shutil.copy2(source / RESULT_FILE, target / RESULT_FILE)
    outputs = source / OUTPUT_DIR
    if outputs.is_dir():
        shutil.copytree(outputs, target / OUTPUT_DIR, copy_function=_link, dirs_exist_ok=True)


def _link(source: str, target: str) -> None:
    """A hard link (the result's files are never written again), or a copy across devices."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
