"""Job spec files: `evd run job.toml|job.yaml`, groups by count, `evd spec ID` to replay."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.conftest import Evd
from tests.helpers import show, submit

JOB = """\
import os

from evd import Job

job = Job("declared", priority=1, labels={"owner": "ana"})


@job.main()
def main(word: str = "none") -> dict[str, str]:
    return {"word": word, "greeting": os.environ["GREETING"]}
"""

SPEC = """\
name = "from-spec"
file = "job.py"
args = ["spec-word"]
priority = 4
labels = { team = "nlp" }
meta = { ticket = "EVD-1" }
environ = { GREETING = "hello" }

[resources]
cpus = 0.5
"""


def test_a_toml_spec_runs_a_job_file_with_its_declarations(evd: Evd, tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(JOB)
    (tmp_path / "job.toml").write_text(SPEC)
    run_id = submit(evd, str(tmp_path / "job.toml"))
    assert evd.cli("wait", run_id, timeout=120).returncode == 0
    run = show(evd, run_id)
    assert run["name"] == "from-spec"
    assert run["priority"] == 4  # the spec's over the file's Job
    assert run["labels"] == {"owner": "ana", "team": "nlp"}
    assert run["resources"]["cpus"] == 0.5
    result = json.loads(evd.cli("result", run_id, check=True).stdout)
    assert result == {"word": "spec-word", "greeting": "hello"}

    # Flags (before the spec) win; words after it replace its args.
    flagged = submit(evd, "--priority", "7", str(tmp_path / "job.toml"), "other")
    assert evd.cli("wait", flagged, timeout=120).returncode == 0
    assert show(evd, flagged)["priority"] == 7
    assert json.loads(evd.cli("result", flagged, check=True).stdout)["word"] == "other"

    # `evd spec` prints a spec that replays the run from anywhere.
    printed = evd.cli("spec", flagged, check=True).stdout
    assert "priority = 7\n" in printed and '[meta]\nticket = "EVD-1"' in printed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "replay.toml").write_text(printed)
    replayed = submit(evd, str(elsewhere / "replay.toml"))
    assert evd.cli("wait", replayed, timeout=120).returncode == 0
    assert json.loads(evd.cli("result", replayed, check=True).stdout)["word"] == "other"
    assert show(evd, replayed)["priority"] == 7
    assert tomllib.loads(evd.cli("spec", replayed, check=True).stdout) == tomllib.loads(printed)


def test_a_yaml_spec_with_count_makes_a_group(evd: Evd, tmp_path: Path) -> None:
    spec = tmp_path / "fan.yaml"
    spec.write_text(
        "name: fan\ncommand: [sh, -c, 'echo index=$EVD_GROUP_INDEX of $EVD_GROUP']\ncount: 3\n"
    )
    group = evd.cli("run", "-q", str(spec), check=True).stdout.strip()
    assert group.startswith("g")
    assert evd.cli("wait", group, timeout=120).returncode == 0
    runs = json.loads(evd.cli("ps", "-a", "--json", check=True).stdout)
    logs = sorted(Path(run["log_path"]).read_text().strip() for run in runs)
    assert logs == [f"index={i} of {group[1:]}" for i in range(3)]
    assert sorted(run["name"] for run in runs) == ["fan[0]", "fan[1]", "fan[2]"]
    printed = evd.cli("spec", str(runs[0]["id"]), check=True).stdout
    assert "count = 3" in printed


def test_a_bad_spec_is_refused_with_the_field_and_evd_serves_on(evd: Evd, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('command = "true"\n[resources]\ngpus = -1\n')
    refused = evd.cli("run", str(bad))
    assert refused.returncode == 2
    assert "bad.toml: resources.gpus" in refused.stderr
    bad.write_text('command = "true"\n[[outputs]]\nname = "x"\nto = "s3:/nope"\n')
    refused = evd.cli("run", str(bad))
    assert refused.returncode == 2 and "outputs[0].to" in refused.stderr
    assert evd.cli("run", str(tmp_path / "missing.yaml")).returncode != 0
    assert json.loads(evd.cli("ps", "-a", "--json", check=True).stdout) == []  # nothing kept
    ok = submit(evd, "--", "true")
    assert evd.cli("wait", ok, timeout=60).returncode == 0


def test_any_run_has_a_spec(evd: Evd, tmp_path: Path) -> None:
    run_id = submit(evd, "--gpus", "0", "--label", "k=v", "--timeout", "60", "--", "echo", "hi")
    assert evd.cli("wait", run_id, timeout=60).returncode == 0
    spec = json.loads(evd.cli("spec", run_id, "--json", check=True).stdout)
    assert spec["command"] == ["echo", "hi"] and spec["labels"] == {"k": "v"}
    assert spec["timeout"] == 60
    (tmp_path / "again.toml").write_text(evd.cli("spec", run_id, check=True).stdout)
    again = submit(evd, str(tmp_path / "again.toml"))
    assert evd.cli("wait", again, timeout=60).returncode == 0
    assert Path(show(evd, again)["log_path"]).read_text() == "hi\n"
