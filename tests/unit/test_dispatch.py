"""Dispatch through its interface: real shims and a real store, a fake clock, a fake policy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from evd.daemon.core.dispatch import Dispatch
from evd.daemon.core.outcomes import Verdict
from evd.daemon.core.spawning import Launcher
from evd.daemon.core.workers import Workers
from evd.daemon.envs.builds import Builds
from evd.daemon.envs.envmanager import Environments
from evd.daemon.monitor.sampler import Sampler
from evd.daemon.monitor.usage import Usage
from evd.models import RunState
from evd.resources.inventory import discover
from evd.resources.memlimit import sampler
from evd.resources.probe import probe_for
from evd.store import RunRecord
from tests.conftest import kill_leftover_jobs
from tests.helpers import Parts, on_loop, until


class Rig:
    """A dispatch over one fake GPU, with what it asked of the policy and told of starts."""

    def __init__(self, parts: Parts, *, parallel: int | None) -> None:
        inventory = discover({"EVD_FAKE_GPUS": "1x24GiB"}, {})
        environments = Environments(parts.state, {}, {})
        usage = Usage(
            Sampler(probe_for(inventory), str(parts.state.root)),
            interval=1.0,
            stop_gpu_overuse=False,
        )
        builds = Builds(
            parts.state,
            environments,
            parts.ledger,
            on_ready=lambda _run_id: None,
            on_failed=parts.ledger.fail_before_start,
            clock=parts.clock,
        )
        workers = Workers(parts.state.root / "workers", 0.5, parts.clock)
        launcher = Launcher(
            parts.ledger, environments.builder, sampler(1.0, "test"), {}, workers, clock=parts.clock
        )
        self.dispatch = Dispatch(
            parts.ledger,
            parts.bus,
            inventory=inventory,
            launcher=launcher,
            builds=builds,
            usage=usage,
            parallel=parallel,
            holds_starts=lambda: False,
            kill_grace=0.5,
            clock=parts.clock,
        )
        usage.supervise(self.dispatch)
        self.asked: list[tuple[int, RunState, str | None]] = []
        self.started: list[int] = []
        self.dispatch.again = self._again
        self.dispatch.on_start = self.started.append

    def run(self, parts: Parts, scenario: Callable[[], Awaitable[None]]) -> None:
        """``scenario`` with dispatch started on the loop; no job of it outlives the test."""

        async def started() -> None:
            self.dispatch.start(asyncio.get_running_loop())
            try:
                await scenario()
            finally:
                self.dispatch.stop()

        try:
            on_loop(parts, started)
        finally:
            kill_leftover_jobs(parts.state.root)

    def _again(self, record: RunRecord, verdict: Verdict, stopping: str | None, _at: float) -> bool:
        self.asked.append((record.id, verdict.state, stopping))
        return False


def add(parts: Parts, *command: str, timeout: float | None = None) -> RunRecord:
    run_id = parts.ledger.insert(
        at=parts.clock(), name=command[0], command=list(command), cwd="/", env=None,
        priority=0, timeout=timeout, resources={"cpus": 0.1},
    )  # fmt: skip
    parts.state.run_dir(run_id).mkdir()
    parts.ledger.flush()
    return parts.ledger.get(run_id)


def test_a_run_waits_for_a_slot_and_starts_when_the_one_before_it_ends(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    rig = Rig(parts, parallel=1)
    dispatch = rig.dispatch

    async def scenario() -> None:
        first, second = add(parts, "true"), add(parts, "true")
        dispatch.enqueue(first)
        dispatch.enqueue(second)
        dispatch.tick()
        assert rig.started == [first.id]  # one slot: the second waits its turn
        assert second.id in dispatch.queue and dispatch.is_live(first.id)
        assert parts.ledger.get(first.id).state is RunState.RUNNING
        await until(lambda: parts.ledger.get(second.id).state.is_final)
        # Each end was offered to the policy before it was recorded, then the slot went on.
        assert rig.asked == [
            (first.id, RunState.SUCCEEDED, None),
            (second.id, RunState.SUCCEEDED, None),
        ]
        assert rig.started == [first.id, second.id]
        assert dispatch.pool.held == {} and not dispatch.running

    rig.run(parts, scenario)


def test_a_run_past_its_timeout_is_stopped_and_recorded_timed_out(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    rig = Rig(parts, parallel=None)
    dispatch = rig.dispatch

    async def scenario() -> None:
        run = add(parts, "sleep", "30", timeout=0.2)
        dispatch.enqueue(run)
        dispatch.tick()
        assert dispatch.running[run.id].stopping is None
        # The timer (armed from the start on dispatch's clock) stops it, SIGTERM first.
        await until(lambda: parts.ledger.get(run.id).state.is_final)
        ended = parts.ledger.get(run.id)
        assert ended.state is RunState.TIMED_OUT
        assert ended.reason == "timed out after 200ms"
        assert rig.asked == [(run.id, RunState.TIMED_OUT, "timeout")]

    rig.run(parts, scenario)
