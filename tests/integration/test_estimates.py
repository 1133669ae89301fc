"""Run-time estimates learned from history, and the forecast start of every waiting run."""

from __future__ import annotations

from tests.conftest import Evd, wait_for
from tests.helpers import show, submit

SLEEP = ("--", "sleep", "3")


def test_history_makes_estimates_and_waiting_runs_learn_when_they_start(evd: Evd) -> None:
    first = submit(evd, *SLEEP)
    assert show(evd, first)["estimate"] is None  # no history yet
    assert evd.cli("wait", first, timeout=60).returncode == 0
    assert show(evd, first)["estimate"] is None  # what it was told at submit
    learned = submit(evd, *SLEEP)
    run = show(evd, learned)
    assert run["estimate"] is not None and 2.5 < run["estimate"] < 15  # one run of history
    assert evd.cli("wait", learned, timeout=60).returncode == 0

    # Two slots (the fixture's --parallel 2): the third waits, and is told when it starts.
    busy = [submit(evd, *SLEEP) for _ in range(2)]
    wait_for(lambda: all(show(evd, run_id)["state"] == "running" for run_id in busy), 30)
    waiting = submit(evd, *SLEEP)
    run = show(evd, waiting)
    assert run["state"] == "queued" and run["expected_start"] is not None
    assert "; starts " in run["reason"] and "(estimated)" in run["reason"]
    listed = evd.cli("ps", check=True).stdout.splitlines()
    assert listed[0].split()[:4] == ["ID", "NAME", "STATE", "START"]
    row = next(line for line in listed if line.split()[0] == waiting)
    assert " in ~" in row or " now " in row
    assert "starts " in evd.cli("show", waiting, check=True).stdout
    assert evd.cli("wait", waiting, *busy, timeout=60).returncode == 0
    other = submit(evd, "--", "sleep", "0.1")  # another command: no history of its own
    assert show(evd, other)["estimate"] is None
