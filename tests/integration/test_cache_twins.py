"""Identical runs in flight compute once; --cache, --no-cache and --refresh; evd cache."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Evd, wait_for
from tests.helpers import show

SERIAL = """\
import os
import time

from evd import Job

job = Job("serial", cache={cache})


@job.main()
def main() -> str:
    with open({ran!r}, "a") as ran:
        ran.write("ran\\n")
    while not os.path.exists({gate!r}):
        time.sleep(0.05)
    if os.path.exists({fail!r}):
        os.unlink({fail!r})
        raise SystemExit(3)
    return "done"
"""


class Serial:
    """A cached job that waits for a gate file, and fails once if a marker file is there."""

    def __init__(self, folder: Path, cache: str = "True") -> None:
        self.ran, self.gate, self.fail = folder / "ran", folder / "gate", folder / "fail"
        self.file = folder / "serial.py"
        self.file.write_text(
            SERIAL.format(cache=cache, ran=str(self.ran), gate=str(self.gate), fail=str(self.fail))
        )

    def times_ran(self) -> int:
        return len(self.ran.read_text().splitlines()) if self.ran.exists() else 0


def submit(evd: Evd, *words: str) -> str:
    return evd.cli("run", "-q", *words, check=True).stdout.strip()


def finish(evd: Evd, run_id: str) -> int:
    return evd.cli("wait", run_id, timeout=120).returncode


def waits_for_twin(evd: Evd, run_id: str, twin: str) -> bool:
    reason = str(show(evd, run_id)["reason"])
    return reason.startswith(f"waiting for run {twin}") and "same result" in reason


def test_identical_runs_submitted_together_execute_once(evd: Evd, tmp_path: Path) -> None:
    job = Serial(tmp_path)
    first, second, third, cancelled = (submit(evd, str(job.file)) for _ in range(4))
    for follower in (second, third, cancelled):
        wait_for(lambda f=follower: waits_for_twin(evd, f, first), timeout=60)  # type: ignore[misc]
    evd.cli("cancel", cancelled, check=True)
    wait_for(lambda: job.times_ran() == 1, timeout=60)
    job.gate.touch()
    assert [finish(evd, r) for r in (first, second, third)] == [0, 0, 0]
    assert job.times_ran() == 1  # parallel 2, four submits: one execution
    for follower in (second, third):
        shown = show(evd, follower)
        assert (shown["state"], shown["cached_from"]) == ("succeeded", int(first))
        assert json.loads(evd.cli("result", follower, check=True).stdout) == "done"
    assert show(evd, cancelled)["state"] == "cancelled"


def test_when_the_first_fails_the_next_runs_and_serves_the_rest(evd: Evd, tmp_path: Path) -> None:
    job = Serial(tmp_path)
    job.fail.touch()
    first, second, third = (submit(evd, str(job.file)) for _ in range(3))
    wait_for(lambda: waits_for_twin(evd, third, first), timeout=60)
    job.gate.touch()
    assert finish(evd, first) == 3
    assert finish(evd, second) == 0
    assert finish(evd, third) == 0
    assert job.times_ran() == 2
    assert show(evd, second)["cached_from"] is None
    assert show(evd, third)["cached_from"] == int(second)


def test_a_waiting_run_takes_a_result_that_came_while_evd_was_down(
    evd: Evd, tmp_path: Path
) -> None:
    job = Serial(tmp_path)
    first = submit(evd, str(job.file))
    wait_for(lambda: show(evd, first)["state"] == "running", timeout=60)
    second = submit(evd, str(job.file))
    wait_for(lambda: waits_for_twin(evd, second, first))
    evd.cli("down", check=True)
    job.gate.touch()  # the first run ends while no daemon runs
    wait_for((evd.state.run_dir(int(first)) / "result.json").exists, timeout=60)
    evd.up()
    assert finish(evd, second) == 0
    assert show(evd, second)["cached_from"] == int(first)
    assert job.times_ran() == 1


def test_the_submit_flags_use_skip_or_refresh_the_cache(evd: Evd, tmp_path: Path) -> None:
    job = Serial(tmp_path, cache="None")  # declares no cache
    job.gate.touch()
    plain = submit(evd, str(job.file))
    assert finish(evd, plain) == 0 and show(evd, plain)["cache_key"] is None
    kept = submit(evd, "--cache", str(job.file))
    taken = submit(evd, "--cache", str(job.file))
    assert [finish(evd, r) for r in (kept, taken)] == [0, 0]
    assert show(evd, taken)["cached_from"] == int(kept)
    skipped = submit(evd, "--no-cache", str(job.file))
    refreshed = submit(evd, "--refresh", str(job.file))
    assert [finish(evd, r) for r in (skipped, refreshed)] == [0, 0]
    assert job.times_ran() == 4  # plain, kept, skipped, refreshed
    assert show(evd, refreshed)["cached_from"] is None
    entries = json.loads(evd.cli("cache", "ls", "--json", check=True).stdout)
    assert [entry["run_id"] for entry in entries] == [int(refreshed)]  # replaced
    after = submit(evd, "--cache", str(job.file))
    assert finish(evd, after) == 0 and show(evd, after)["cached_from"] == int(refreshed)

    refused = evd.cli("run", "--cache", "--", "true")
    assert refused.returncode != 0 and "cannot know which files" in refused.stderr
    both = evd.cli("run", "--cache", "--no-cache", str(job.file))
    assert both.returncode != 0 and "give one of them" in both.stderr


def test_evd_cache_lists_forgets_and_prunes(evd: Evd, tmp_path: Path) -> None:
    job = Serial(tmp_path)
    job.gate.touch()
    made = submit(evd, str(job.file))
    assert finish(evd, made) == 0
    hit = submit(evd, str(job.file))
    assert finish(evd, hit) == 0
    [entry] = evd.client().list_cached()
    assert (entry.run_id, entry.name, entry.hits) == (int(made), "serial", 1)
    listing = evd.cli("cache", "ls", check=True).stdout
    assert entry.key[:12] in listing and "serial" in listing
    assert evd.cli("cache", "rm", "ffff" if not entry.key.startswith("f") else "0000").returncode
    assert evd.cli("cache", "rm", entry.key[:8], check=True).stdout.startswith("forgot")
    assert evd.client().list_cached() == []
    again = submit(evd, str(job.file))  # forgotten: it runs, and files a new entry
    assert finish(evd, again) == 0 and show(evd, again)["cached_from"] is None
    assert evd.cli("cache", "prune", "--older-than", "1d", check=True).stdout == (
        "forgot 0 cached result(s)\n"
    )
    assert evd.cli("cache", "prune", check=True).stdout == "forgot 1 cached result(s)\n"
    assert job.times_ran() == 2
