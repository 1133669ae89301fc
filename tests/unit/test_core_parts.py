"""The core's parts, each through its own interface: a real store, a fake clock, fake neighbours."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evd.daemon.core.admission import Admission
from evd.daemon.core.gate import Gate
from evd.daemon.core.outcomes import Verdict
from evd.daemon.envs.builds import Builds
from evd.daemon.envs.envmanager import Environments
from evd.errors import ShuttingDown, StorageError
from evd.models import FailedBy, RunState
from evd.paths import StateDir
from tests.helpers import FakeQueue, Parts, on_loop, until


def test_ledger_publishes_only_what_is_committed_and_tells_run_ends_in_order(
    tmp_path: Path,
) -> None:
    parts = Parts(tmp_path)
    subscription = parts.bus.subscribe()
    parts.ledger.on_run_end(lambda run_id, state: parts.ended.append(("first", run_id, state)))
    parts.ledger.on_run_end(lambda run_id, state: parts.ended.append(("second", run_id, state)))

    async def scenario() -> None:
        run = parts.add()
        assert subscription.queue.get_nowait() == {"run_id": run.id, "state": "queued"}
        parts.ledger.record(run.id, RunState.RUNNING, None, parts.clock())
        assert subscription.queue.empty()  # written, not yet committed: nothing told
        parts.ledger.record(run.id, RunState.SUCCEEDED, None, parts.clock(), exit_code=0)
        # Run-end listeners hear at once, in the order they registered.
        assert parts.ended == [
            ("first", run.id, RunState.SUCCEEDED),
            ("second", run.id, RunState.SUCCEEDED),
        ]
        # One commit for both, within the commit window: then both are told, in order.
        told = [await asyncio.wait_for(subscription.queue.get(), 10) for _ in range(2)]
        assert [event and event["state"] for event in told] == ["running", "succeeded"]
        assert parts.store.get_run(run.id).state is RunState.SUCCEEDED  # type: ignore[union-attr]

    on_loop(parts, scenario)


def test_a_write_that_fails_in_an_undoable_block_takes_back_only_the_block(
    tmp_path: Path,
) -> None:
    parts = Parts(tmp_path)
    subscription = parts.bus.subscribe()

    async def scenario() -> None:
        running = parts.add()
        parts.ledger.flush()
        parts.ledger.record(running.id, RunState.RUNNING, None, parts.clock())  # pending
        refused: list[int] = []
        with pytest.raises(OSError), parts.ledger.undoable():  # a submit that fails midway
            fields = {"name": "job", "command": ["true"], "cwd": "/", "env": None}
            refused.append(
                parts.ledger.insert(at=parts.clock(), priority=0, timeout=None, **fields)
            )
            raise OSError("the code could not be moved into its folder")
        parts.ledger.flush()
        assert parts.store.get_run(running.id).state is RunState.RUNNING  # type: ignore[union-attr]
        assert parts.store.get_run(refused[0]) is None
        told = []
        while not subscription.queue.empty():
            told.append(subscription.queue.get_nowait())
        assert told == [
            {"run_id": running.id, "state": "queued"},
            {"run_id": running.id, "state": "running"},
        ]

    on_loop(parts, scenario)


def test_ledger_waiters_wake_on_the_final_commit_and_are_released_when_evd_stops(
    tmp_path: Path,
) -> None:
    parts = Parts(tmp_path)

    async def scenario() -> None:
        done, stays = parts.add(), parts.add()
        waiting = asyncio.ensure_future(parts.ledger.wait_final(done.id, 30))
        await asyncio.sleep(0)
        parts.ledger.record(done.id, RunState.FAILED, "exit 3", parts.clock(), exit_code=3)
        assert (await waiting).exit_code == 3
        left = asyncio.ensure_future(parts.ledger.wait_final(stays.id, 30))
        await asyncio.sleep(0)
        parts.ledger.release_waiters()
        with pytest.raises(ShuttingDown, match=f"run {stays.id} carries on"):
            await left
        with pytest.raises(ShuttingDown):  # and any wait that comes in later
            await parts.ledger.wait_final(stays.id, 30)

    on_loop(parts, scenario)


def test_a_write_that_fails_is_rolled_back_and_reported_once(tmp_path: Path) -> None:
    parts = Parts(tmp_path)

    async def scenario() -> None:
        run = parts.add()
        parts.store._conn.execute("PRAGMA query_only = ON")  # as a full disk refuses writes
        with pytest.raises(StorageError):
            parts.ledger.record(run.id, RunState.RUNNING, None, parts.clock())
        assert len(parts.failures) == 1
        parts.store._conn.execute("PRAGMA query_only = OFF")
        parts.ledger.flush()  # nothing of the failed write is left to commit
        assert parts.ledger.get(run.id).state is RunState.QUEUED

    on_loop(parts, scenario)


def make_admission(parts: Parts, queue: FakeQueue) -> Admission:
    builds = Builds(
        parts.state,
        Environments(parts.state, {}, {}),
        parts.ledger,
        on_ready=lambda _run_id: None,
        on_failed=parts.ledger.fail_before_start,
        clock=parts.clock,
    )
    admission = Admission(parts.ledger, queue, builds, retry_base=2.0, clock=parts.clock)
    parts.ledger.on_run_end(admission.run_ended)
    return admission


def test_admission_holds_a_dependant_until_its_dependency_succeeds(tmp_path: Path) -> None:
    parts, queue = Parts(tmp_path), FakeQueue()
    admission = make_admission(parts, queue)

    async def scenario() -> None:
        first = parts.add()
        after = parts.add(policy={"after": [first.id]})
        for record in (first, after):
            assert admission.admit(record)
            admission.enqueue(record, tick=False)
        assert queue.queued == [first.id]  # the dependant is held, not queued
        assert admission.is_waiting(after.id)
        assert "waiting for run" in str(admission.held_reason(after.id, lambda i: f"run {i}"))
        parts.ledger.record(first.id, RunState.SUCCEEDED, None, parts.clock(), exit_code=0)
        assert queue.queued == [first.id, after.id]
        assert not admission.is_waiting(after.id)

    on_loop(parts, scenario)


def test_admission_fails_a_dependant_whose_dependency_failed(tmp_path: Path) -> None:
    parts, queue = Parts(tmp_path), FakeQueue()
    admission = make_admission(parts, queue)

    async def scenario() -> None:
        first = parts.add()
        after = parts.add(policy={"after": [first.id]})
        assert admission.admit(after)
        parts.ledger.record(first.id, RunState.FAILED, "exit 1", parts.clock(), exit_code=1)
        failed = parts.ledger.get(after.id)
        assert failed.state is RunState.FAILED and failed.failed_by is FailedBy.DEPENDENCY
        assert f"run {first.id} (job) failed" in str(failed.reason)
        assert queue.queued == []
        # A dependant admitted after its dependency failed fails at once.
        late = parts.add(policy={"after": [first.id]})
        assert not admission.admit(late)
        assert parts.ledger.get(late.id).state is RunState.FAILED

    on_loop(parts, scenario)


def test_admission_withdraws_a_run_from_wherever_it_waits(tmp_path: Path) -> None:
    parts, queue = Parts(tmp_path), FakeQueue()
    admission = make_admission(parts, queue)

    async def scenario() -> None:
        queued, first = parts.add(), parts.add()
        admission.enqueue(queued, tick=False)
        held = parts.add(policy={"after": [first.id]})
        assert admission.admit(held)
        assert admission.withdraw(queued.id) and queue.queued == []
        assert admission.withdraw(held.id) and not admission.is_waiting(held.id)
        assert not admission.withdraw(first.id)  # it waited nowhere: dispatch stops it instead

    on_loop(parts, scenario)


def test_admission_retries_a_failed_run_after_its_backoff_on_the_clock(tmp_path: Path) -> None:
    parts, queue = Parts(tmp_path), FakeQueue()
    admission = make_admission(parts, queue)
    failed = Verdict(RunState.FAILED, 3, "exited with code 3", FailedBy.USER)

    async def scenario() -> None:
        run = parts.add(policy={"retries": 1})
        parts.ledger.record(
            run.id, RunState.RUNNING, None, parts.clock(), started_at=parts.clock(), attempts=1
        )
        ended = parts.clock.now = parts.clock() + 1.0
        assert admission.again(parts.ledger.get(run.id), failed, None, ended)
        waiting = parts.ledger.get(run.id)
        assert waiting.state is RunState.QUEUED
        assert waiting.retry is not None and waiting.retry["at"] == ended + 2.0
        assert str(waiting.reason).startswith("retry 2 of 2 in 2 s")
        parts.clock.now += 1.0  # half the backoff gone: the reason counts down on the clock
        assert "retry 2 of 2 in 1 s" in str(admission.held_reason(run.id, str))
        await until(lambda: queue.queued == [run.id])  # the backoff's timer let it go
        # The retry starts and fails too: its one retry spent, that failure is final.
        parts.ledger.record(run.id, RunState.RUNNING, None, ended + 4, attempts=2)
        assert not admission.again(parts.ledger.get(run.id), failed, None, ended + 5)

    on_loop(parts, scenario)


def test_the_gate_says_why_nothing_starts(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "home")
    state.ensure()
    gate = Gate(state)
    assert not gate.holds_starts and gate.paused_reason() is None
    gate.drain(True)
    assert gate.holds_starts and "draining" in str(gate.paused_reason())
    gate.drain(False)
    gate.degraded = "the disk is full"
    with pytest.raises(StorageError, match="the disk is full"):
        gate.check()
    assert "cannot write its database" in str(gate.paused_reason())
    gate.accepting = False
    with pytest.raises(ShuttingDown):
        gate.check()
