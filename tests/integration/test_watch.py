"""Watched folders against a real daemon and real inotify: every pickup rule, and filing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Evd, wait_for


@pytest.fixture
def drop(evd: Evd, tmp_path: Path) -> Path:
    """A watched folder of a running daemon."""
    folder = tmp_path / "drop"
    folder.mkdir()
    evd.cli("watch", "add", str(folder), check=True)
    return folder


def runs(evd: Evd) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(evd.cli("ps", "--all", "--json").stdout)
    return listed


def watches(evd: Evd) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(evd.cli("watch", "ls", "--json").stdout)
    return listed


def filed(folder: Path, name: str, outcome: str = "done", timeout: float = 30) -> str:
    """Wait until ``name`` is filed under ``outcome``; return its log."""
    wait_for((folder / outcome / name).exists, timeout=timeout)
    return (folder / outcome / f"{name}.log").read_text()


def test_a_dropped_script_runs_once_and_is_filed_with_its_log(evd: Evd, drop: Path) -> None:
    (drop / "good.py").write_text(
        "import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr)\n"
    )
    log = filed(drop, "good.py")
    assert log.splitlines()[:2] == ["out", "err"]
    assert "succeeded (exit 0)" in log.splitlines()[-1]
    assert not (drop / "good.py").exists()
    time.sleep(1.0)  # time enough for a duplicate pickup to show
    assert [run["name"] for run in runs(evd)] == ["good.py"]
    assert watches(evd)[0]["picked_up"] == 1


def test_files_there_before_the_watch_and_while_evd_was_down_are_picked_up(
    evd: Evd, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "before.py").write_text("print('before')\n")
    (folder / "notes.txt").write_text("not a job")
    evd.cli("watch", "add", str(folder), check=True)
    assert "before" in filed(folder, "before.py")
    evd.cli("down", check=True)
    (folder / "while_down.py").write_text("print('while down')\n")
    evd.up()
    assert "while down" in filed(folder, "while_down.py")
    assert (folder / "notes.txt").exists()  # not matching the pattern: left alone
    assert sorted(str(run["name"]) for run in runs(evd)) == ["before.py", "while_down.py"]


def test_a_file_still_being_written_waits_until_it_is_closed(evd: Evd, drop: Path) -> None:
    writer = (
        "import sys, time\n"
        "with open(sys.argv[1], 'w') as out:\n"
        "    out.write('print(\"first half\")\\n'); out.flush()\n"
        "    time.sleep(2.5)\n"  # far longer than the quiet period
        "    out.write('print(\"second half\")\\n')\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(drop / "slow.py")], check=True)
    log = filed(drop, "slow.py")
    assert log.splitlines()[:2] == ["first half", "second half"]
    assert len(runs(evd)) == 1


def test_a_file_renamed_into_place_runs_once(evd: Evd, drop: Path) -> None:
    partial = drop / ".incoming.py.part"
    partial.write_text("print('renamed in')\n")
    time.sleep(1.0)  # a hidden, partial name is never picked up
    assert runs(evd) == []
    os.rename(partial, drop / "renamed.py")
    assert "renamed in" in filed(drop, "renamed.py")
    assert [run["name"] for run in runs(evd)] == ["renamed.py"]


def test_repeated_events_make_one_run(evd: Evd, drop: Path) -> None:
    path = drop / "touchy.py"
    for line in range(5):
        with path.open("a") as out:  # five opens, writes and closes in a row
            out.write(f"print({line})\n")
        os.utime(path)
    log = filed(drop, "touchy.py")
    assert log.splitlines()[:5] == ["0", "1", "2", "3", "4"]
    time.sleep(1.0)
    assert len(runs(evd)) == 1


def test_a_run_going_across_a_restart_is_neither_run_again_nor_left_unfiled(
    evd: Evd, drop: Path
) -> None:
    (drop / "long.py").write_text("import time\ntime.sleep(3)\nprint('slept')\n")
    wait_for(lambda: any(run["state"] == "running" for run in runs(evd)), timeout=30)
    evd.cli("down", check=True)
    evd.up()
    assert "slept" in filed(drop, "long.py")
    time.sleep(1.0)
    assert len(runs(evd)) == 1


def test_broken_files_still_make_runs_that_fail_with_the_reason(evd: Evd, drop: Path) -> None:
    (drop / "syntax.py").write_text("def broken(:\n")
    (drop / "junk.py").write_bytes(bytes(range(256)) * 20)
    with (drop / "huge.py").open("w") as out:
        out.write("# " + "x" * (11 * 1024 * 1024) + "\n")
    assert "SyntaxError" in filed(drop, "syntax.py", "failed")
    assert "junk.py is not UTF-8 text" in filed(drop, "junk.py", "failed")
    assert "huge.py is 11 MiB" in filed(drop, "huge.py", "failed")
    assert {run["state"] for run in runs(evd)} == {"failed"}
    assert evd.cli("ps").returncode == 0  # the daemon is unharmed


def test_a_file_gone_before_pickup_and_a_removed_folder_are_reported(evd: Evd, drop: Path) -> None:
    (drop / "gone.py").write_text("print('never')\n")
    (drop / "gone.py").unlink()
    wait_for(lambda: watches(evd)[0]["note"] is not None, timeout=10)
    assert watches(evd)[0]["note"] == "gone.py was removed before evd could pick it up"
    assert runs(evd) == []
    for path in drop.iterdir():
        path.unlink()
    drop.rmdir()
    wait_for(lambda: watches(evd)[0]["status"] == "missing", timeout=10)
    assert "was removed; evd watches it again once it is back" in str(watches(evd)[0]["note"])
    drop.mkdir()
    (drop / "back.py").write_text("print('back')\n")
    assert "back" in filed(drop, "back.py", timeout=30)
    assert watches(evd)[0]["status"] == "watching"


def test_watches_persist_take_run_options_and_stop_when_removed(evd: Evd, tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    watch_id = evd.cli(
        "watch", "add", "-q", "--pattern", "job_*.py", "--cpus", "0.5", "--timeout", "1m",
        str(folder), check=True,
    ).stdout.strip()  # fmt: skip
    again = evd.cli("watch", "add", "--pattern", "job_*.py", str(folder))
    assert again.returncode == 1 and "already watched" in again.stderr  # 409
    evd.cli("down", check=True)
    evd.up()
    (folder / "job_a.py").write_text("print('a')\n")
    (folder / "other.py").write_text("print('other')\n")
    filed(folder, "job_a.py")
    (run,) = runs(evd)
    assert run["resources"]["cpus"] == 0.5 and run["timeout"] == 60  # type: ignore[index]
    assert evd.cli("watch", "rm", watch_id).returncode == 0
    (folder / "job_b.py").write_text("print('b')\n")
    time.sleep(1.5)
    assert len(runs(evd)) == 1 and (folder / "job_b.py").exists()
    assert evd.cli("watch", "ls").stdout.startswith("no watched folders")


def test_bad_watch_requests_are_refused(evd: Evd, tmp_path: Path) -> None:
    missing = evd.cli("watch", "add", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "is not a folder" in missing.stderr  # 404
    bad = evd.cli("watch", "add", "--cpus", "-1", str(tmp_path))
    assert bad.returncode == 2 and "cpus" in bad.stderr


def test_a_pep723_script_runs_in_its_own_env_from_a_watched_folder(
    offline_evd: Evd, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    offline_evd.cli("watch", "add", str(folder), check=True)
    (folder / "inline.py").write_text(
        "# /// script\n# dependencies = ['evdtest-pkg==1.0']\n# ///\n"
        "import evdtest_pkg\nprint('pkg', evdtest_pkg.VERSION)\n"
    )
    assert "pkg 1.0" in filed(folder, "inline.py", timeout=60)


def test_an_ev_style_job_file_runs_its_main_from_a_watched_folder(evd: Evd, drop: Path) -> None:
    (drop / "ev_job.py").write_text(
        "from evd import Job\n"
        "job = Job('dropped-job', cpus=0.25)\n"
        "@job.main()\n"
        "def main(n: int = 6) -> dict:\n"
        "    print('main ran')\n"
        "    return {'square': n * n}\n"
    )
    assert "main ran" in filed(drop, "ev_job.py")
    (run,) = runs(evd)
    assert run["name"] == "dropped-job" and run["kind"] == "job"
    assert json.loads(evd.cli("result", str(run["id"]), check=True).stdout) == {"square": 36}
