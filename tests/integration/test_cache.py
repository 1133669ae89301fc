"""The result cache: a run that would do what a succeeded run did takes its result at once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Evd, wait_for
from tests.helpers import show

JOB = """\
import os
from pathlib import Path

from evd import Cache, Job

job = Job("double", cache={cache})


@job.main()
def main(n: int) -> dict:
    with open({ran!r}, "a") as ran:
        ran.write(f"{{n}}\\n")
    Path(os.environ["EVD_OUTPUT_DIR"], "doubled.txt").write_text(str(n * 2))
    return {{"doubled": {body}}}  # an int would be the exit code
"""


def write_job(path: Path, ran: Path, cache: str = "True", body: str = "n * 2") -> Path:
    path.write_text(JOB.format(cache=cache, ran=str(ran), body=body))
    return path


def run(evd: Evd, *words: str) -> str:
    run_id = evd.cli("run", "-q", *words, check=True).stdout.strip()
    assert evd.cli("wait", run_id, timeout=120).returncode == 0, evd.cli("logs", run_id).stdout
    return run_id


def test_an_identical_run_takes_the_cached_result_without_running(evd: Evd, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    job = write_job(tmp_path / "double.py", ran)
    first = run(evd, str(job), "--n", "21")
    second = run(evd, str(job), "--n", "21")
    assert ran.read_text() == "21\n"  # one execution
    shown = show(evd, second)
    assert (shown["state"], shown["exit_code"]) == ("succeeded", 0)
    assert shown["reason"] == f"result taken from run {first} (cache)"
    assert json.loads(evd.cli("result", second, check=True).stdout) == {"doubled": 42}
    outputs = evd.state.run_dir(int(second)) / "outputs" / "doubled.txt"
    assert outputs.read_text() == "42"
    assert outputs.stat().st_ino == (  # hard-linked, not copied
        (evd.state.run_dir(int(first)) / "outputs" / "doubled.txt").stat().st_ino
    )
    assert f"evd: result taken from run {first} (cache)" in evd.cli("logs", second).stdout


def test_a_changed_argument_or_line_runs_again(evd: Evd, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    job = write_job(tmp_path / "double.py", ran)
    run(evd, str(job), "--n", "1")
    run(evd, str(job), "--n", "2")  # another argument
    write_job(job, ran, body="n + n")  # another line of the file
    changed = run(evd, str(job), "--n", "1")
    assert ran.read_text() == "1\n2\n1\n"
    assert show(evd, changed)["reason"] is None


def test_a_versioned_cache_and_an_uncached_job(evd: Evd, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    job = write_job(tmp_path / "double.py", ran, cache='Cache(version="2")')
    run(evd, str(job), "--n", "5")
    run(evd, str(job), "--n", "5")
    write_job(job, ran, cache='Cache(version="3")')
    run(evd, str(job), "--n", "5")  # a new version: a miss
    plain = write_job(tmp_path / "plain.py", ran, cache="None")
    run(evd, str(plain), "--n", "5")
    run(evd, str(plain), "--n", "5")  # no cache asked for: runs every time
    assert ran.read_text() == "5\n" * 4


def test_a_result_that_cannot_be_taken_is_computed_again(evd: Evd, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    job = write_job(tmp_path / "double.py", ran)
    first = run(evd, str(job), "--n", "4")
    result = evd.state.run_dir(int(first)) / "result.json"
    result.unlink()
    result.mkdir()  # unreadable as a file: the copy fails
    again = run(evd, str(job), "--n", "4")
    assert ran.read_text() == "4\n4\n"
    assert show(evd, again)["reason"] is None
    assert json.loads(evd.cli("result", again, check=True).stdout) == {"doubled": 8}


WAITING = """\
import os
import time

from evd import Job

job = Job("slow", cache=True)


@job.main()
def main() -> str:
    while not os.path.exists({gate!r}):
        time.sleep(0.05)
    return "done"
"""


def test_a_run_that_ends_after_a_restart_still_files_its_result(evd: Evd, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job = tmp_path / "slow.py"
    job.write_text(WAITING.format(gate=str(gate)))
    first = evd.cli("run", "-q", str(job), check=True).stdout.strip()
    wait_for(lambda: show(evd, first)["state"] == "running")
    evd.cli("down", check=True)  # the job carries on under its shim
    evd.up()
    gate.touch()
    assert evd.cli("wait", first, timeout=60).returncode == 0
    second = run(evd, str(job))
    assert show(evd, second)["reason"] == f"result taken from run {first} (cache)"


def test_a_fan_out_takes_cached_results_item_by_item(evd: Evd, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    job = write_job(tmp_path / "double.py", ran)
    items = tmp_path / "items.jsonl"

    def fan_out(*values: int) -> list[int]:
        items.write_text("".join(f"[{value}]\n" for value in values))
        group = evd.cli("run", "-q", "--map", str(items), str(job), check=True).stdout.strip()
        assert evd.cli("wait", group, timeout=120).returncode == 0
        run_ids = show(evd, group)["run_ids"]
        assert isinstance(run_ids, list)
        results = [json.loads(evd.cli("result", str(r), check=True).stdout) for r in run_ids]
        assert results == [{"doubled": value * 2} for value in values]
        return run_ids

    first = fan_out(1, 2, 1)
    assert sorted(ran.read_text().split()) == ["1", "2"]  # the third waited for the first
    assert show(evd, str(first[2]))["cached_from"] == first[0]
    second = fan_out(2, 3)
    assert sorted(ran.read_text().split()) == ["1", "2", "3"]
    assert show(evd, str(second[0]))["cached_from"] == first[1]
