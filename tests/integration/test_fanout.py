"""Fan-out groups against a real daemon: `evd run --map`, `job.map`, and gID everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Evd, wait_for
from tests.helpers import show

SQUARE = """\
from evd import Job

job = Job("square", cpus=0.25)

@job.main()
def main(n: int, scale: float = 1.0, fail: bool = False) -> dict:
    if fail:
        raise SystemExit(7)
    return {"n": n, "value": n * n * scale}
"""

# A coordinator that maps its own job; `--again` makes every item map again.
COORDINATOR = """\
import time
from evd import Job

job = Job("coord", cpus=0.25)

@job.main()
def main(item: int = -1, sleep: float = 0.0, again: bool = False) -> object:
    if item >= 0 and not again:
        time.sleep(sleep)
        return [item * 10]  # a JSON result (an int would be the exit code)
    group = job.map([{"item": i, "sleep": sleep, "again": again} for i in range(3)])
    print(f"group {group.id}", flush=True)
    return group.results()
"""


@pytest.fixture
def fan_evd(evd_env: Evd) -> Evd:
    """A daemon with no slot cap, so a coordinator and its items run side by side."""
    evd_env.cli("up", "--kill-grace", "1", check=True)
    return evd_env


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def items_file(folder: Path, *items: object) -> Path:
    path = folder / "items.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items) + "\n")
    return path


def test_map_makes_one_run_per_item_with_the_items_values(fan_evd: Evd, tmp_path: Path) -> None:
    job = write(tmp_path, "square.py", SQUARE)
    items = items_file(tmp_path, [2], {"n": 3, "scale": 0.5}, 4)
    group = fan_evd.cli("run", "-q", "--map", str(items), str(job), check=True).stdout.strip()
    assert group.startswith("g")
    waited = fan_evd.cli("wait", group, timeout=120)
    assert waited.returncode == 0, waited.stderr
    assert "succeeded: 3 of 3 ended (3 succeeded)" in waited.stdout
    shown = show(fan_evd, group)
    assert (shown["name"], shown["size"], shown["state"], shown["progress"]) == (
        "square",
        3,
        "succeeded",
        1.0,
    )
    assert shown["counts"] == {"succeeded": 3}
    run_ids = [str(run_id) for run_id in shown["run_ids"]]  # type: ignore[attr-defined]
    results = [json.loads(fan_evd.cli("result", run_id, check=True).stdout) for run_id in run_ids]
    assert results == [{"n": 2, "value": 4}, {"n": 3, "value": 4.5}, {"n": 4, "value": 16}]
    runs = [show(fan_evd, run_id) for run_id in run_ids]
    assert [run["name"] for run in runs] == ["square[0]", "square[1]", "square[2]"]
    assert [(run["group"], run["group_index"]) for run in runs] == [
        (int(group[1:]), index) for index in range(3)
    ]
    listing = fan_evd.cli("ps", "--all", check=True).stdout
    assert f"{group}     square  succeeded  3/3   100%" in listing


def test_plain_commands_get_items_as_words(fan_evd: Evd, tmp_path: Path) -> None:
    items = items_file(tmp_path, ["a b", 2], {"n": 3, "flag": True, "off": False}, "x")
    out = fan_evd.cli("run", "-q", "--map", str(items), "--", "echo", "says", check=True)
    group = out.stdout.strip()
    assert fan_evd.cli("wait", "-q", group, timeout=60).returncode == 0
    run_ids = show(fan_evd, group)["run_ids"]
    logs = [fan_evd.cli("logs", str(run_id)).stdout for run_id in run_ids]  # type: ignore[attr-defined]
    assert logs == ["says a b 2\n", "says --n 3 --flag\n", "says x\n"]


def test_a_failed_item_fails_the_group_and_wait_exits_with_its_code(
    fan_evd: Evd, tmp_path: Path
) -> None:
    job = write(tmp_path, "square.py", SQUARE)
    items = items_file(tmp_path, {"n": 1}, {"n": 2, "fail": True}, {"n": 3})
    group = fan_evd.cli("run", "-q", "--map", str(items), str(job), check=True).stdout.strip()
    waited = fan_evd.cli("wait", group, timeout=120)
    assert waited.returncode == 7
    assert "failed: 3 of 3 ended (2 succeeded, 1 failed)" in waited.stdout
    assert show(fan_evd, group)["counts"] == {"succeeded": 2, "failed": 1}


def test_cancelling_a_group_cancels_every_run_not_ended(fan_evd: Evd, tmp_path: Path) -> None:
    items = items_file(tmp_path, *range(12))
    group = fan_evd.cli(
        "run", "-q", "--cpus", "1", "--map", str(items), "--", "sleep", "60", check=True
    ).stdout.strip()
    wait_for(lambda: show(fan_evd, group)["state"] == "running", timeout=30)
    cancelled = fan_evd.cli("cancel", group, timeout=90)
    assert cancelled.returncode == 0, cancelled.stderr
    shown = show(fan_evd, group)
    assert shown["state"] == "cancelled" and shown["counts"] == {"cancelled": 12}
    assert fan_evd.cli("wait", "-q", group).returncode == 130
    assert fan_evd.cli("ps").stdout.startswith("no active runs")


def test_a_broken_file_still_makes_the_group_with_every_run_failed(
    fan_evd: Evd, tmp_path: Path
) -> None:
    job = write(tmp_path, "broken.py", "from evd import Job\njob = Job('x'\n")
    items = items_file(tmp_path, 1, 2)
    out = fan_evd.cli("run", "--map", str(items), str(job))
    assert out.returncode == 125
    assert "group 1 (broken.py) failed: 2 of 2 ended (2 failed)" in out.stderr
    assert "syntax error in broken.py, line 2" in out.stderr


def test_bad_map_input_is_refused_with_the_line(fan_evd: Evd, tmp_path: Path) -> None:
    job = write(tmp_path, "square.py", SQUARE)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('[1]\n{"n": 2\n')
    out = fan_evd.cli("run", "--map", str(bad), str(job))
    assert out.returncode == 2 and f"--map {bad}, line 2: not JSON" in out.stderr
    bad.write_text('{"not a name": 1}\n')
    out = fan_evd.cli("run", "--map", str(bad), str(job))
    assert out.returncode == 2 and "items.0: a key of an item cannot be an argument name" in (
        out.stderr
    )
    assert fan_evd.cli("ps", "--all").stdout.startswith("no runs")


def test_job_map_inside_a_run_fans_out_and_gathers_results(fan_evd: Evd, tmp_path: Path) -> None:
    job = write(tmp_path, "coord.py", COORDINATOR)
    run_id = fan_evd.cli("run", "-q", str(job), check=True).stdout.strip()
    assert fan_evd.cli("wait", run_id, timeout=120).returncode == 0
    assert json.loads(fan_evd.cli("result", run_id, check=True).stdout) == [[0], [10], [20]]
    group = fan_evd.cli("logs", run_id).stdout.split()[1]
    assert show(fan_evd, f"g{group}")["state"] == "succeeded"


def test_an_item_may_not_fan_its_own_file_out_again(fan_evd: Evd, tmp_path: Path) -> None:
    job = write(tmp_path, "coord.py", COORDINATOR)
    run_id = fan_evd.cli("run", "-q", str(job), "--again", "true", check=True).stdout.strip()
    assert fan_evd.cli("wait", run_id, timeout=120).returncode == 1
    log = fan_evd.cli("logs", run_id).stdout
    assert "3 of 3 runs of group 1 (coord) did not succeed" in log
    item_log = fan_evd.cli("logs", str(int(run_id) + 1)).stdout
    assert "is itself an item of a fan-out of this file" in item_log
    assert len(json.loads(fan_evd.cli("ps", "--all", "--json").stdout)) == 4  # no second level


def test_cancelling_the_coordinating_run_cancels_its_fanout(fan_evd: Evd, tmp_path: Path) -> None:
    job = write(tmp_path, "coord.py", COORDINATOR)
    run_id = fan_evd.cli("run", "-q", str(job), "--sleep", "60", check=True).stdout.strip()
    wait_for(lambda: "group" in fan_evd.cli("logs", run_id).stdout, timeout=60)
    wait_for(lambda: show(fan_evd, "g1")["state"] == "running", timeout=60)
    assert fan_evd.cli("cancel", run_id, timeout=60).returncode == 0
    wait_for(lambda: show(fan_evd, "g1")["state"] == "cancelled", timeout=30)


def test_a_group_outlives_a_daemon_restart(fan_evd: Evd, tmp_path: Path) -> None:
    items = items_file(tmp_path, 1, 2, 3)
    group = fan_evd.cli(
        "run", "-q", "--cpus", "1", "--map", str(items), "--", "sleep", "1", check=True
    ).stdout.strip()
    fan_evd.cli("down", check=True)
    fan_evd.cli("up", "--kill-grace", "1", check=True)
    assert fan_evd.cli("wait", "-q", group, timeout=60).returncode == 0
    assert show(fan_evd, group)["counts"] == {"succeeded": 3}
