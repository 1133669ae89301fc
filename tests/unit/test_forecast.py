"""Estimates from history, and the queue played forward with the scheduler to forecast starts."""

from __future__ import annotations

import time

from evd.describe import expected_start_words
from evd.estimates import alike_key, estimate
from evd.forecast import Expected, expected_end, forecast
from evd.models import iso
from evd.resources.pool import Device, Pool
from evd.resources.request import Request
from evd.scheduler import Capacity, QueuedRun, QueueIndex
from evd.units import GIB

ONE_GPU = Request(gpus=1)


def machine(gpus: int = 1) -> Pool:
    return Pool(8, 64 * GIB, [Device(i, 24 * GIB) for i in range(gpus)])


def queue_of(*runs: QueuedRun) -> QueueIndex:
    queue = QueueIndex()
    for run in runs:
        queue.add(run)
    return queue


def holding(pool: Pool, run_id: int, request: Request) -> Pool:
    allocation = pool.fit(run_id, request)
    assert allocation is not None
    pool.take(allocation)
    return pool


def test_an_estimate_is_a_high_quantile_of_the_history() -> None:
    assert estimate([]) is None
    assert estimate([5.0]) == 5.0
    assert estimate([float(s) for s in range(1, 11)]) == 9.0  # 9 of 10 ended within it
    assert estimate([1.0, 100.0]) == 100.0


def test_alike_runs_share_a_key_whatever_their_arguments() -> None:
    spec = {"source": "/w/train.py", "function": "main"}
    key = alike_key("train", spec, ["python", "-m", "x", "--lr", "1"], "env1")
    assert key == alike_key("train", spec, ["python", "--lr", "2"], "env1")
    assert key == alike_key("train[3]", spec, [], "env1")  # a fan-out's items
    assert key != alike_key("train", spec, [], "env2")
    assert key != alike_key("train", {"source": "/w/other.py"}, [], "env1")
    assert alike_key("c", {}, ["sleep", "1"], None) != alike_key("c", {}, ["sleep", "2"], None)


def test_a_queued_run_starts_when_the_run_holding_its_gpu_should_end() -> None:
    pool = holding(machine(), 1, ONE_GPU)
    queue = queue_of(QueuedRun(2, request=ONE_GPU, estimate=30.0), QueuedRun(3, request=ONE_GPU))
    plan = forecast(100.0, queue, {1: 160.0}, Capacity(slots=None), pool)
    # 3 after 2's estimate; each on the device it would get, 2 until its estimate ends
    assert plan == {2: Expected(160.0, 1, (0,), 190.0), 3: Expected(190.0, 2, (0,), None)}
    assert pool.held.keys() == {1}  # the pool is left as it was


def test_no_forecast_past_an_end_nobody_can_predict() -> None:
    pool = holding(machine(), 1, ONE_GPU)
    queue = queue_of(QueuedRun(2, request=ONE_GPU), QueuedRun(3, request=ONE_GPU, estimate=5.0))
    assert forecast(0.0, queue, {1: None}, Capacity(slots=None), pool) == {}
    # 2 has neither estimate nor timeout: once it starts, 3 cannot be placed in time.
    plan = forecast(0.0, queue, {1: 10.0}, Capacity(slots=None), pool)
    assert plan == {2: Expected(10.0, 1, (0,))}
    timed = queue_of(QueuedRun(2, request=ONE_GPU, limit=20.0), QueuedRun(3, request=ONE_GPU))
    assert forecast(0.0, timed, {1: 10.0}, Capacity(slots=None), pool)[3].at == 30.0


def test_slots_and_drain_are_played_as_the_daemon_plays_them() -> None:
    queue = queue_of(QueuedRun(2, estimate=10.0), QueuedRun(3, estimate=10.0))
    plan = forecast(0.0, queue, {1: 5.0}, Capacity(slots=1), machine())
    assert plan == {2: Expected(5.0, 1, (), 15.0), 3: Expected(15.0, 2, (), 25.0)}
    assert forecast(0.0, queue, {1: 5.0}, Capacity(slots=1, draining=True), machine()) == {}
    assert len(forecast(0.0, queue, {}, Capacity(slots=None), machine(), limit=1)) == 1


def test_a_run_past_its_estimate_ends_by_its_timeout_or_nobody_knows_when() -> None:
    assert expected_end(100.0, 50.0, 80.0, None) == 130.0
    assert expected_end(100.0, 50.0, 30.0, 200.0) == 200.0  # outlived its estimate
    assert expected_end(100.0, 50.0, 30.0, None) is None
    assert expected_end(100.0, 50.0, None, None) is None


def test_a_forecast_reads_as_a_person_says_it() -> None:
    now = time.time()
    assert expected_start_words(None) == "-"
    assert expected_start_words(iso(now + 0.2), now) == "now"
    assert expected_start_words(iso(now + 30), now) == "in ~30s"
    assert expected_start_words(iso(now + 12 * 60), now) == "in ~12m"
    later = now + 3 * 3600
    words = expected_start_words(iso(later), now)
    assert words.startswith("~") and time.strftime("%H:%M", time.localtime(later)) in words
