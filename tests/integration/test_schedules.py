"""Schedules: firing on a fake clock in an in-process engine, and for real through the CLI."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from evd.daemon.engine import Engine
from evd.models import RunState, ScheduleRequest, SubmitRequest
from evd.paths import StateDir
from evd.store import Store
from tests.conftest import Evd, kill_leftover_jobs, wait_for
from tests.helpers import START, FakeClock, until
from tests.helpers import run_engine as in_process

Scenario = Callable[[Engine, FakeClock], Awaitable[None]]


def run_engine(state: StateDir, clock: FakeClock, scenario: Scenario) -> None:
    """Run ``scenario`` on an in-process engine (on the fake clock) over ``state``'s store."""

    async def on_clock(engine: Engine, _store: Store) -> None:
        await scenario(engine, clock)

    in_process(state, on_clock, parallel=None, kill_grace=1, clock=clock)


@pytest.fixture
def state(tmp_path: Path) -> object:
    folder = StateDir(tmp_path / "home")
    folder.ensure()
    yield folder
    kill_leftover_jobs(folder.root)


def command(*words: str, overlap: str = "skip", grace: float = 3600.0) -> ScheduleRequest:
    return ScheduleRequest(
        run=SubmitRequest(command=list(words), cwd="/"),
        spec="every 10s",
        overlap=overlap,
        misfire_grace=grace,
    )


async def tick(engine: Engine, clock: FakeClock, seconds: float) -> None:
    clock.now += seconds
    engine.schedules.wake()
    await asyncio.sleep(0)


def finished(engine: Engine) -> list[int]:
    return [run.id for run in engine.store.list_runs() if run.state.is_final]


def test_a_schedule_fires_on_its_times_and_not_before(state: StateDir) -> None:
    async def scenario(engine: Engine, clock: FakeClock) -> None:
        schedule = await engine.schedules.add(command("true"))
        assert schedule.next_fire_at == START + 10
        await tick(engine, clock, 9.9)
        assert engine.store.list_runs() == []
        await tick(engine, clock, 0.1)
        await until(lambda: len(finished(engine)) == 1)
        await tick(engine, clock, 10)
        await until(lambda: len(finished(engine)) == 2)
        record = engine.schedules.get(schedule.id)
        assert (record.fires, record.next_fire_at, record.note) == (2, START + 30, None)
        engine.schedules.pause(schedule.id, True)
        await tick(engine, clock, 60)
        engine.schedules.pause(schedule.id, False)  # resumes from now: nothing made up
        assert engine.schedules.get(schedule.id).next_fire_at == START + 90
        await asyncio.sleep(0.2)
        assert len(engine.store.list_runs()) == 2
        engine.schedules.remove(schedule.id)
        await tick(engine, clock, 100)
        assert len(engine.store.list_runs()) == 2

    run_engine(state, FakeClock(), scenario)


def test_overlap_skip_drops_a_fire_and_queue_runs_it_after_the_last_run(
    state: StateDir, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    slow = ("sh", "-c", f"while [ ! -e {stop} ]; do sleep 0.02; done")

    async def scenario(engine: Engine, clock: FakeClock) -> None:
        skip = await engine.schedules.add(command(*slow))
        queue = await engine.schedules.add(command(*slow, overlap="queue"))
        await tick(engine, clock, 10)
        await until(lambda: len(engine.store.list_runs([RunState.RUNNING])) == 2)
        await tick(engine, clock, 10)  # both busy
        assert "skipped: run" in str(engine.schedules.get(skip.id).note)
        waiting = engine.schedules.get(queue.id)
        assert waiting.pending and "waits for run" in str(waiting.note)
        assert len(engine.store.list_runs()) == 2
        stop.touch()
        # The queued fire goes as soon as its schedule's run ends; the skipped one never.
        await until(lambda: len(engine.store.list_runs()) == 3)
        third = engine.store.list_runs()[0]
        assert engine.schedules.get(queue.id).last_run_id == third.id
        assert not engine.schedules.get(queue.id).pending

    run_engine(state, FakeClock(), scenario)


def test_fires_missed_while_evd_was_down_coalesce_within_the_grace(state: StateDir) -> None:
    clock = FakeClock()
    ids: dict[str, int] = {}

    async def register(engine: Engine, _clock: FakeClock) -> None:
        ids["within"] = (await engine.schedules.add(command("true", grace=60))).id
        ids["over"] = (await engine.schedules.add(command("true", grace=20))).id

    run_engine(state, clock, register)
    clock.now += 45  # fires at +10, +20, +30, +40 were missed while no daemon ran

    async def restarted(engine: Engine, _clock: FakeClock) -> None:
        await until(lambda: len(finished(engine)) == 1)
        within = engine.schedules.get(ids["within"])
        over = engine.schedules.get(ids["over"])
        assert within.note == "4 fire(s) missed (35s late): ran once" and within.fires == 1
        assert over.note is not None and "over the misfire grace of 20s): skipped" in over.note
        assert over.fires == 0
        assert within.next_fire_at == over.next_fire_at == START + 50
        await asyncio.sleep(0.2)
        assert len(engine.store.list_runs()) == 1

    run_engine(state, clock, restarted)


def test_a_real_schedule_fires_survives_a_restart_and_stops_when_removed(
    evd: Evd, tmp_path: Path
) -> None:
    job = tmp_path / "tick.py"
    job.write_text(
        "from evd import Job\n"
        "job = Job('tick', cpus=0.25, schedule='every 1s')\n"
        "@job.main()\n"
        "def main(word: str) -> dict:\n"
        "    print(word)\n"
        "    return {'word': word}\n"
    )
    schedule = evd.cli("schedule", "add", "-q", str(job), "hello", check=True).stdout.strip()

    def fired() -> list[dict[str, object]]:
        return [
            r for r in json.loads(evd.cli("ps", "--all", "--json").stdout) if r["name"] == "tick"
        ]

    wait_for(lambda: len(fired()) >= 2, timeout=30)
    listed = json.loads(evd.cli("schedule", "ls", "--json").stdout)
    assert listed[0]["spec"] == "every 1s" and listed[0]["what"] == "tick.py hello"
    assert listed[0]["next_fire_at"] is not None
    evd.cli("down", check=True)
    evd.up()
    before = len(fired())
    wait_for(lambda: len(fired()) > before, timeout=30)
    last = fired()[0]
    wait_for(lambda: evd.cli("show", "--json", str(last["id"])).stdout.count('"succeeded"') > 0)
    assert json.loads(evd.cli("result", str(last["id"]), check=True).stdout) == {"word": "hello"}
    assert evd.cli("schedule", "rm", schedule).returncode == 0
    count = len(fired())
    time.sleep(2.5)
    assert len(fired()) <= count + 1  # at most a fire already being submitted
    assert evd.cli("schedule", "ls").stdout.startswith("no schedules")


def test_bad_schedules_are_refused_with_what_to_do(evd: Evd, tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text("print('no schedule declared')\n")
    none = evd.cli("schedule", "add", str(plain))
    assert none.returncode == 2 and "Give --cron EXPR or --every 10m" in none.stderr
    bad = evd.cli("schedule", "add", "--cron", "61 * * * *", str(plain))
    assert bad.returncode == 2 and "the last value (61) is higher than the maximum" in bad.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("from evd import Job\njob = Job(\n")
    refused = evd.cli("schedule", "add", "--every", "1h", str(broken))
    assert refused.returncode == 1 and "syntax error in broken.py" in refused.stderr
    assert evd.cli("schedule", "ls").stdout.startswith("no schedules")
