"""What evd keeps is private: file modes under EVD_HOME, and secret-looking shell variables."""

import json
import os
import sqlite3
import stat
from pathlib import Path

from tests.conftest import Evd
from tests.helpers import show


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_everything_evd_writes_is_private_and_jobs_keep_their_umask(
    evd: Evd, tmp_path: Path
) -> None:
    made = tmp_path / "made-by-the-job"
    run_id = evd.cli("run", "-q", "--", "sh", "-c", f"echo hi; touch {made}", check=True)
    evd.cli("wait", "-q", run_id.stdout.strip(), timeout=60)
    home = evd.home
    private_files = [home / "evd.db", home / "evd.log", home / "evd.db-wal"]
    run_dir = home / "runs" / run_id.stdout.strip()
    private_files += [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in private_files} >= {"output.log", "exit", "shim.pid"}
    assert {str(p): oct(mode(p)) for p in private_files if p.exists() and mode(p) != 0o600} == {}
    folders = [home, home / "runs", run_dir]
    assert {str(p): oct(mode(p)) for p in folders if mode(p) != 0o700} == {}
    # The job's own files follow the umask evd was started with, not evd's.
    assert mode(made) == 0o666 & ~0o022


def test_secret_looking_shell_variables_reach_the_job_but_not_the_database(evd: Evd) -> None:
    evd.env["HF_TOKEN"] = "hf-s3cr3t"
    evd.env["AWS_SECRET_ACCESS_KEY"] = "aws-s3cr3t"
    evd.env["PLAIN_SETTING"] = "visible"
    try:
        script = 'echo "$HF_TOKEN $AWS_SECRET_ACCESS_KEY $PLAIN_SETTING" > "$EVD_OUTPUT_DIR/seen"'
        run_id = evd.cli("run", "-q", "--", "sh", "-c", script, check=True).stdout.strip()
    finally:
        del evd.env["HF_TOKEN"], evd.env["AWS_SECRET_ACCESS_KEY"], evd.env["PLAIN_SETTING"]
    evd.cli("wait", "-q", run_id, timeout=60)
    seen = evd.home / "runs" / run_id / "outputs" / "seen"
    assert seen.read_text().strip() == "hf-s3cr3t aws-s3cr3t visible"
    shown = show(evd, run_id)
    assert shown["hidden_variables"] == ["AWS_SECRET_ACCESS_KEY", "HF_TOKEN"]
    assert "s3cr3t" not in json.dumps(shown)
    assert "HF_TOKEN" in evd.cli("show", run_id, check=True).stdout
    with sqlite3.connect(evd.home / "evd.db") as db:
        dumped = "\n".join(db.iterdump())
    assert "s3cr3t" not in dumped and "visible" in dumped
    assert not (evd.home / "runs" / run_id / "secrets.json").exists()


def test_the_patterns_are_configurable(evd_env: Evd) -> None:
    evd_env.home.mkdir(parents=True, exist_ok=True)
    (evd_env.home / "config.toml").write_text('[jobs]\nsecret_variables = ["MY_*"]\n')
    evd_env.up()
    evd_env.env["MY_THING"] = "mine"
    try:
        run_id = evd_env.cli("run", "-q", "--", "true", check=True).stdout.strip()
    finally:
        del evd_env.env["MY_THING"]
    assert show(evd_env, run_id)["hidden_variables"] == ["MY_THING"]
    assert os.environ.get("MY_THING") is None
