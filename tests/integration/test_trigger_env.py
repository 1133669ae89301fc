"""Runs started by a schedule or a watched folder get the environment of whoever added it."""

import json
import sqlite3
from pathlib import Path

from tests.conftest import Evd, wait_for

REPORT = 'echo "FOO=$FOO TOKEN=$MY_API_TOKEN" > "$EVD_OUTPUT_DIR/seen"'


def first_run_output(evd: Evd, name: str) -> str:
    def runs() -> list[dict[str, object]]:
        listed = json.loads(evd.cli("ps", "--all", "--json").stdout)
        return [r for r in listed if r["name"] == name and r["state"] == "succeeded"]

    wait_for(lambda: bool(runs()), timeout=60)
    return (evd.home / "runs" / str(runs()[-1]["id"]) / "outputs" / "seen").read_text().strip()


def test_a_schedule_keeps_the_adders_environment(evd: Evd, tmp_path: Path) -> None:
    evd.env.update(FOO="bar", MY_API_TOKEN="t0ken-s3cr3t")
    try:
        added = evd.cli(
            "schedule", "add", "-q", "--every", "1s", "--name", "envtick",
            "--", "sh", "-c", REPORT, check=True,
        )  # fmt: skip
    finally:
        del evd.env["FOO"], evd.env["MY_API_TOKEN"]
    assert first_run_output(evd, "envtick") == "FOO=bar TOKEN=t0ken-s3cr3t"
    (listed,) = json.loads(evd.cli("schedule", "ls", "--json", check=True).stdout)
    assert {"FOO", "MY_API_TOKEN", "PATH"} <= set(listed["environment"])
    with sqlite3.connect(evd.home / "evd.db") as db:
        dumped = "\n".join(db.iterdump())
    assert "s3cr3t" not in dumped and "bar" in dumped
    evd.cli("schedule", "rm", added.stdout.strip(), check=True)
    assert not list((evd.home / "triggers").glob("schedule-*"))


def test_a_watched_folders_runs_keep_the_adders_environment(evd: Evd, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    evd.env.update(FOO="baz", MY_API_TOKEN="w4tch-s3cr3t")
    try:
        evd.cli("watch", "add", str(folder), check=True)
    finally:
        del evd.env["FOO"], evd.env["MY_API_TOKEN"]
    written = tmp_path / "report.py"  # written beside, then moved in whole
    written.write_text(
        "import os\n"
        "from pathlib import Path\n"
        "seen = f\"FOO={os.environ['FOO']} TOKEN={os.environ['MY_API_TOKEN']}\"\n"
        "Path(os.environ['EVD_OUTPUT_DIR'], 'seen').write_text(seen)\n"
    )
    written.rename(folder / "report.py")
    assert first_run_output(evd, "report.py") == "FOO=baz TOKEN=w4tch-s3cr3t"
    (listed,) = json.loads(evd.cli("watch", "ls", "--json", check=True).stdout)
    assert {"FOO", "MY_API_TOKEN"} <= set(listed["environment"])
    assert "env" not in listed["options"]
    with sqlite3.connect(evd.home / "evd.db") as db:
        assert "s3cr3t" not in "\n".join(db.iterdump())
