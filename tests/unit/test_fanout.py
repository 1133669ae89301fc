"""Fan-out pieces that need no daemon: items, their words and calls, what a group adds up to."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from evd.cli.groups import group_status, read_items, run_or_group
from evd.daemon.submit import fanout
from evd.errors import InvalidRequest
from evd.models import Run, RunState
from evd.sdk.calling import CallError, bind, bind_item
from evd.store import RunRecord


def record(state: RunState, progress: float | None = None, index: int = 0) -> RunRecord:
    return RunRecord(
        id=index + 1, name=f"x[{index}]", state=state, reason=None, exit_code=None,
        failed_by=None, attempts=0, command=["true"], cwd="/", env=None, priority=0,
        timeout=None, created_at=0.0, started_at=None, ended_at=None, pid=None,
        stop_reason=None, progress=progress, group_id=1, group_index=index,
    )  # fmt: skip


def test_items_become_words_for_scripts_and_commands() -> None:
    assert fanout.item_words(["a b", 2, 1.5, None, [1]]) == ["a b", "2", "1.5", "null", "[1]"]
    assert fanout.item_words({"n": 3, "on": True, "off": False, "none": None, "s": "x"}) == [
        "--n", "3", "--on", "--s", "x",
    ]  # fmt: skip
    assert fanout.item_words("one") == ["one"]
    assert fanout.item_words(7) == ["7"]


def test_a_job_function_gets_the_item_as_json_before_its_words() -> None:
    launch = ["py", "-m", "evd.sdk.launch", "/f.py", "main", "--path", "/d", "--", "w"]
    assert fanout.item_command(launch, "job", {"n": 1}) == [
        *launch[:7], "--item", '{"n":1}', "--", "w",
    ]  # fmt: skip
    script = ["py", "-m", "evd.sdk.launch", "/f.py", "-", "--"]
    assert fanout.item_command(script, "script", [1, "a"]) == [*script, "1", "a"]
    assert fanout.item_command(["echo"], "command", {"k": "v"}) == ["echo", "--k", "v"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "non-empty list"),
        ({"n": 1}, "non-empty list"),
        (list(range(fanout.MAX_ITEMS + 1)), "more than evd takes at once"),
        ([{"ok": 1}, {"bad key": 1}], "item 1: key 'bad key' cannot be an argument name"),
        ([{"1x": 1}], "key '1x'"),
        (["x" * fanout.MAX_ITEM_BYTES], "item 0 is 131,073 bytes as JSON"),
    ],
)
def test_bad_items_are_refused_saying_which(items: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        fanout.check_items(items)


def test_a_group_adds_its_runs_up() -> None:
    queued = [record(RunState.QUEUED, index=i) for i in range(3)]
    assert fanout.group_state(queued) == "queued"
    mixed = [record(RunState.SUCCEEDED), record(RunState.RUNNING, 0.5, 1), queued[2]]
    assert fanout.group_state(mixed) == "running"
    assert fanout.group_progress(mixed, 3) == pytest.approx(0.5)
    assert fanout.group_counts(mixed) == {"queued": 1, "running": 1, "succeeded": 1}
    done = [record(RunState.SUCCEEDED), record(RunState.CANCELLED, index=1)]
    assert fanout.group_state(done) == "cancelled"
    done.append(record(RunState.TIMED_OUT, index=2))
    assert fanout.group_state(done) == "failed"
    # Two of three runs pruned after they ended: the one left decides, the rest count as done.
    assert fanout.group_state([record(RunState.SUCCEEDED)]) == "succeeded"
    assert fanout.group_progress([record(RunState.RUNNING, 0.0)], 3) == pytest.approx(2 / 3)


def test_an_item_binds_after_the_words() -> None:
    def main(path: str, n: int = 1, *, scale: float = 1.0) -> None: ...

    args, kwargs = bind(main, ["--scale", "2"], partial=True)
    assert bind_item(main, args, kwargs, ["a.txt", 3]) == (["a.txt", 3], {"scale": 2.0})
    assert bind_item(main, [], {}, {"path": "p", "n": 2}) == ([], {"path": "p", "n": 2})
    assert bind_item(main, [], {}, "only") == (["only"], {})
    with pytest.raises(CallError, match="missing a required argument: 'path'"):
        bind_item(main, [], {}, {"n": 2})
    with pytest.raises(CallError, match="unexpected keyword argument 'size'"):
        bind_item(main, [], {}, {"path": "p", "size": 2})
    with pytest.raises(CallError, match="missing a required argument"):
        bind(main, [])  # without an item to come, a missing argument is an error at once


def test_group_ids_are_written_with_a_g(tmp_path: Path) -> None:
    assert run_or_group("12") == ("run", 12)
    assert run_or_group("g3") == ("group", 3)
    for bad in ("g", "gx", "0", "g0", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            run_or_group(bad)
    items = tmp_path / "items.jsonl"
    items.write_text('[1]\n\n{"n": 2}\n"s"\n')
    assert read_items(str(items)) == [[1], {"n": 2}, "s"]
    items.write_text("\n\n")
    with pytest.raises(InvalidRequest, match="has no items"):
        read_items(str(items))


def run(index: int, state: RunState, code: int | None) -> dict[str, Any]:
    """A run of a group as the API's JSON has it (what the CLI reads)."""
    return Run(
        id=index + 1, name="x", state=state, reason=None, exit_code=code, attempts=1, gpus=[],
        progress=None, env=None, created_at="", started_at=None, ended_at=None, command=[],
        cwd="/", priority=0, timeout=None, failed_by=None, pid=None, log_path="",
        group=1, group_index=index,
    ).to_dict()  # fmt: skip


def test_a_groups_exit_code_is_its_first_failures() -> None:
    assert group_status([run(0, RunState.SUCCEEDED, 0), run(1, RunState.SUCCEEDED, 0)]) == 0
    runs = [
        run(2, RunState.FAILED, 3),
        run(0, RunState.SUCCEEDED, 0),
        run(1, RunState.CANCELLED, None),
    ]
    assert group_status(runs) == 130
