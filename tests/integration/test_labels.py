"""Labels: given at submit or declared, kept with the run, and a filter for listings."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Evd
from tests.helpers import show, submit

JOB = """\
from evd import Job

job = Job("labelled", labels={"team": "nlp", "owner": "ana"})


@job.main()
def main() -> None:
    print("hello")
"""


def listed(evd: Evd, *filters: str) -> list[int]:
    words = [word for item in filters for word in ("-l", item)]
    runs = json.loads(evd.cli("ps", "-a", "--json", *words, check=True).stdout)
    return [run["id"] for run in runs]


def test_labels_are_kept_and_filter_the_listing(evd: Evd, tmp_path: Path) -> None:
    plain = submit(evd, "--label", "team=vision", "--label", "stage=train", "--", "true")
    job = tmp_path / "labelled.py"
    job.write_text(JOB)
    declared = submit(evd, "--label", "team=vision", str(job))  # over the declared team
    assert evd.cli("wait", plain, declared, timeout=120).returncode == 0
    assert show(evd, plain)["labels"] == {"team": "vision", "stage": "train"}
    assert show(evd, declared)["labels"] == {"team": "vision", "owner": "ana"}
    assert "labels     team=vision, stage=train" in evd.cli("show", plain, check=True).stdout

    assert listed(evd, "team=vision") == [int(declared), int(plain)]
    assert listed(evd, "team=vision", "stage=train") == [int(plain)]
    assert listed(evd, "owner=ana") == [int(declared)]
    assert listed(evd, "team=nlp") == []
    with evd.client() as client:
        found = client.list_runs(labels={"stage": "train"})
    assert [run.id for run in found] == [int(plain)]

    group = evd.cli("run", "-q", "--label", "batch=7", "--map", str(items(tmp_path)), str(job))
    assert evd.cli("wait", group.stdout.strip(), timeout=120).returncode == 0
    assert len(listed(evd, "batch=7")) == 2  # every run of a fan-out

    evd.cli("prune", "--older-than", "0s", check=True)
    assert listed(evd, "team=vision") == []


def items(folder: Path) -> Path:
    path = folder / "items.jsonl"
    path.write_text("[]\n[]\n")
    return path


def test_bad_labels_are_refused_with_the_reason(evd: Evd) -> None:
    bad_key = evd.cli("run", "--label", "t@m=x", "--", "true")
    assert bad_key.returncode != 0 and "label key" in bad_key.stderr
    two_lines = evd.cli("run", "--label", "team=a\nb", "--", "true")
    assert two_lines.returncode != 0 and "one line" in two_lines.stderr
    no_value = evd.cli("ps", "-l", "team")
    assert no_value.returncode != 0 and "team=vision" in no_value.stderr
    assert evd.cli("ps", "-a", "--json", check=True).stdout.strip() == "[]"
