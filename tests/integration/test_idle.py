"""An idle daemon samples slowly; a run going live brings the normal pace back at once."""

from __future__ import annotations

from pathlib import Path

from evd.daemon.engine import Engine
from evd.daemon.monitor.usage import IDLE_INTERVAL
from evd.models import RunState, SubmitRequest
from evd.paths import StateDir
from evd.store import Store
from tests.helpers import run_engine, until


def test_sampling_slows_while_idle_and_keeps_pace_while_a_run_is_live(tmp_path: Path) -> None:
    async def scenario(engine: Engine, store: Store) -> None:
        usage = engine.usage
        await until(lambda: usage.latest is not None)
        await until(lambda: usage.pace == IDLE_INTERVAL)  # nothing runs: the slow pace
        run = await engine.submit(SubmitRequest(command=["sleep", "30"], cwd="/"))
        await until(lambda: engine.ledger.get(run.id).state is RunState.RUNNING)
        assert usage.pace == 0.2  # it went live: the run's own pace, not the idle one
        first = usage.latest
        await until(lambda: usage.latest is not first and run.id in usage.latest.runs)
        engine.cancellation.cancel(run.id)
        await until(lambda: engine.ledger.get(run.id).state.is_final)
        await until(lambda: usage.pace == IDLE_INTERVAL)  # idle again once it has gone

    run_engine(StateDir(tmp_path / "home"), scenario, sample_interval=0.2)
