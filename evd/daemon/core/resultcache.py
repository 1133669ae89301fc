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

from evd.daemon.core.ledger import Ledger
from evd.daemon.submit.cachekey import CachePolicy, cache_key
from evd.daemon.submit.prepared import Prepared
from evd.models import ACTIVE_STATES, RunState
from evd.runner.folders import OUTPUT_DIR
from evd.runner.logcap import note_in_log
from evd.sdk.launch import RESULT_FILE
from evd.store import RunRecord

log = logging.getLogger("evd.cache")


class ResultCache:
    """Finds, serves and files cached results (through the ledger, like every write)."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.time) -> None:
        """Keep entries in ``ledger``'s store."""
        self.ledger = ledger
        self.clock = clock
        # Runs that ran for a key, until they end: a run's end costs no read to ask.
        self._running_for: dict[int, str] = {}

    def load(self) -> None:
        """Learn the keyed runs a previous daemon left active (before recovery ends them)."""
        self._running_for = self.ledger.store.keyed_runs(sorted(ACTIVE_STATES))

    def runs_for(self, run_id: int, key: str) -> None:
        """``run_id`` runs for ``key`` (a miss): its success files the result."""
        self._running_for[run_id] = key

    async def key_for(self, prepared: Prepared) -> str | None:
        """The key of ``prepared``'s result if its settings ask for caching (and it can run).

        The code snapshot is read off the loop: a job may include large files.
        """
        declared = (prepared.spec or {}).get("settings", {}).get("cache")
        if not declared or prepared.error is not None:
            return None
        if isinstance(declared, dict):
            policy = CachePolicy(
                str(declared.get("version", "")), tuple(declared.get("ignore", ()))
            )
        else:
            policy = CachePolicy()
        return await asyncio.to_thread(cache_key, prepared, policy)

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

    def run_ended(self, run_id: int, state: RunState) -> None:
        """A run ended: one that ran for a key and succeeded files its result under it."""
        key = self._running_for.pop(run_id, None)
        if key is None or state is not RunState.SUCCEEDED:
            return
        now = self.clock()
        self.ledger.write(lambda store: store.put_cached(key, run_id, now))


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
