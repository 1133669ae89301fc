"""A database that cannot be written: clear errors, no new starts, nothing lost, recovery."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from evd.daemon.engine import Engine
from evd.errors import StorageError
from evd.models import RunState, SubmitRequest
from evd.paths import StateDir
from evd.store import Store
from tests.helpers import run_engine, until


def refuse_writes(store: Store, refuse: bool) -> None:
    """Make every write fail (as a full or read-only disk does) or succeed again.

    Test-only poking at the connection. The disk-full message itself is tested
    in tests/unit/test_store.py with a real SQLITE_FULL; SQLite can still fit a
    small write into a page's free space there, so it cannot make *every* write fail.
    """
    store._conn.execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")


def run_scenario(
    tmp_path: Path, scenario: Callable[[Engine, Store, StateDir], Awaitable[None]]
) -> None:
    """Run ``scenario`` on an in-process engine over a real store; no job outlives the test."""
    state = StateDir(tmp_path / "home")

    async def with_state(engine: Engine, store: Store) -> None:
        await scenario(engine, store, state)

    run_engine(state, with_state, parallel=2, kill_grace=1, recovery_interval=0.05)


def test_engine_degrades_loses_nothing_and_recovers(tmp_path: Path) -> None:
    marker = tmp_path / "go"

    async def scenario(engine: Engine, store: Store, _state: StateDir) -> None:
        # A job that outlives the outage; it exits only when told to.
        waiting = await engine.submit(
            SubmitRequest(
                command=["sh", "-c", f"while [ ! -e {marker} ]; do sleep 0.01; done; exit 5"],
                cwd="/",
            )
        )
        assert waiting.state is RunState.RUNNING

        refuse_writes(store, True)
        with pytest.raises(StorageError, match="could not write"):
            await engine.submit(
                SubmitRequest(command=["echo", "hi"], cwd="/", env=dict(os.environ))
            )
        assert engine.degraded is not None
        with pytest.raises(StorageError, match="could not write"):  # refused at once now
            await engine.submit(SubmitRequest(command=["echo", "hi"], cwd="/"))
        refused_ids = [run.id for run in store.list_runs()]

        marker.touch()  # the job ends while nothing can be recorded
        await asyncio.sleep(0.5)
        # Its end is not recorded yet (nor, perhaps, its start: a start waits up to
        # the ledger's commit window, and the failed write took it back)...
        assert not store.get_run(waiting.id).state.is_final  # type: ignore[union-attr]
        assert engine.degraded is not None  # ...and recovery keeps failing

        refuse_writes(store, False)
        await until(lambda: engine.degraded is None)
        final = store.get_run(waiting.id)
        assert final is not None
        assert (final.state, final.exit_code) == (RunState.FAILED, 5)  # from the shim's own record

        later = await engine.submit(SubmitRequest(command=["true"], cwd="/"))
        await until(lambda: store.get_run(later.id).state is RunState.SUCCEEDED)
        # Nothing lost, nothing invented: the only new run is the one accepted after recovery.
        assert [run.id for run in store.list_runs()][1:] == refused_ids

    run_scenario(tmp_path, scenario)


def test_a_prune_that_cannot_write_degrades_and_keeps_everything(tmp_path: Path) -> None:
    async def scenario(engine: Engine, store: Store, state: StateDir) -> None:
        done = await engine.submit(SubmitRequest(command=["true"], cwd="/"))
        await until(lambda: store.get_run(done.id).state is RunState.SUCCEEDED)
        await asyncio.sleep(0.01)

        refuse_writes(store, True)
        with pytest.raises(StorageError, match="could not write"):
            engine.prune(0)
        assert engine.degraded is not None
        assert store.get_run(done.id) is not None
        assert state.run_dir(done.id).is_dir()  # no folder removed for a row that stayed

        refuse_writes(store, False)
        await until(lambda: engine.degraded is None)
        assert engine.prune(0) == 1
        assert store.get_run(done.id) is None and not state.run_dir(done.id).exists()

    run_scenario(tmp_path, scenario)
