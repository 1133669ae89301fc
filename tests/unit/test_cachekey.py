"""The result cache's key: what changes a run's result changes its key, and nothing else does."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from evd.daemon.submit.cachekey import CachePolicy, cache_key, without_ignored
from evd.daemon.submit.prepared import CODE_DIR, Prepared
from evd.environments.indexes import IndexSettings
from evd.environments.pythons import Interpreter
from evd.environments.spec import make_spec

PYTHON = Interpreter(version=(3, 11, 7), path="/usr/bin/python3")


def prepared(
    tmp_path: Path,
    *,
    staging: str = "stage-1",
    source: str = "def main(n):\n    return n * 2\n",
    args: tuple[str, ...] = ("--n", "3"),
    requirements: tuple[str, ...] = ("numpy==2.1.0",),
    secrets: dict[str, str] | None = None,
    volume_version: str = "v1",
) -> Prepared:
    """A submission of ``job.py:main`` as the preparer leaves it, staged under ``staging``."""
    code = tmp_path / staging / CODE_DIR
    code.mkdir(parents=True, exist_ok=True)
    (code / "job.py").write_text(source)
    (code / "data").mkdir(exist_ok=True)
    (code / "data" / "table.csv").write_text("a,b\n1,2\n")
    return Prepared(
        name="job",
        kind="function",
        command=["python", "-m", "evd.sdk.launch", str(code / "job.py"), "main", *args],
        cwd=str(code),
        env=None,
        timeout=None,
        priority=0,
        spec={
            "function": "main",
            "settings": {"environ": {"MODE": "fast"}},
            "volumes": [{"name": "data", "path": "/srv/data", "version": volume_version}],
        },
        env_spec=make_spec(PYTHON, list(requirements), IndexSettings()),
        staging=tmp_path / staging,
        shell_secrets=secrets or {},
    )


def test_the_same_submission_has_the_same_key_wherever_it_was_staged(tmp_path: Path) -> None:
    first = cache_key(prepared(tmp_path, staging="stage-1"), CachePolicy())
    assert first == cache_key(prepared(tmp_path, staging="stage-2"), CachePolicy())
    assert len(first) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"args": ("--n", "4")},  # an argument
        {"source": "def main(n):\n    return n * 3\n"},  # a line of the file
        {"requirements": ("numpy==2.1.1",)},  # a pinned package version
        {"volume_version": "v2"},  # the data it reads
    ],
    ids=["argument", "file", "package", "volume"],
)
def test_what_can_change_the_result_changes_the_key(tmp_path: Path, change: dict) -> None:
    before = cache_key(prepared(tmp_path / "a"), CachePolicy())
    assert cache_key(prepared(tmp_path / "b", **change), CachePolicy()) != before


def test_an_included_file_is_part_of_the_key(tmp_path: Path) -> None:
    one = prepared(tmp_path / "a")
    other = prepared(tmp_path / "b")
    assert other.staging is not None
    (other.staging / CODE_DIR / "data" / "table.csv").write_text("a,b\n1,3\n")
    assert cache_key(one, CachePolicy()) != cache_key(other, CachePolicy())


def test_secrets_an_ignored_argument_and_the_version(tmp_path: Path) -> None:
    base = cache_key(prepared(tmp_path / "a", secrets={"TOKEN": "one"}), CachePolicy())
    assert cache_key(prepared(tmp_path / "b", secrets={"TOKEN": "two"}), CachePolicy()) == base
    loud = prepared(tmp_path / "c", args=("--n", "3", "--verbose", "2"))
    assert cache_key(loud, CachePolicy(ignore=("verbose",))) == base
    assert cache_key(loud, CachePolicy()) != base
    assert cache_key(prepared(tmp_path / "d"), CachePolicy(version="2")) != base


def test_a_command_without_code_is_keyed_on_its_words_and_folder(tmp_path: Path) -> None:
    command = dataclasses.replace(
        prepared(tmp_path), kind="command", command=["wc", "-l", "data.csv"], staging=None
    )
    elsewhere = dataclasses.replace(command, cwd="/srv")
    assert cache_key(command, CachePolicy()) != cache_key(elsewhere, CachePolicy())


@pytest.mark.parametrize(
    ("words", "ignore", "kept"),
    [
        (["--n", "3", "--verbose", "2"], ["verbose"], ["--n", "3"]),
        (["--verbose=2", "x"], ["verbose"], ["x"]),
        (["--verbose", "--n", "3"], ["verbose"], ["--n", "3"]),  # a flag alone
        (["--dry-run", "yes", "--dry_run=no"], ["dry_run"], []),
        (["--n", "3"], [], ["--n", "3"]),
    ],
)
def test_ignored_options_leave_with_their_values(
    words: list[str], ignore: list[str], kept: list[str]
) -> None:
    assert without_ignored(words, ignore) == kept


def test_a_cache_is_declared_as_true_false_or_a_version_and_ignored_options() -> None:
    from evd.environments.settings import settings_from_table  # noqa: PLC0415
    from evd.sdk import Cache, DeclarationError, Job  # noqa: PLC0415

    assert settings_from_table({"cache": True}, "x").cache is True
    table = {"cache": {"version": "2", "ignore": ["verbose"]}}
    assert settings_from_table(table, "x").cache == {"version": "2", "ignore": ["verbose"]}
    for bad, says in (("yes", "must be true, false"), ({"salt": 1}, "unknown key(s) salt")):
        with pytest.raises(DeclarationError, match=re.escape(says)):
            settings_from_table({"cache": bad}, "x")
    job = Job("double", cache=Cache(version="2", ignore=["verbose"]))
    assert job.to_dict()["settings"]["cache"] == {"version": "2", "ignore": ["verbose"]}
    assert "cache" not in Job("plain").to_dict()["settings"]


def test_reuse_is_declared_as_true_or_an_idle_ttl_and_replicas() -> None:
    from evd.environments.settings import settings_from_table  # noqa: PLC0415
    from evd.sdk import DeclarationError, Job, Reuse  # noqa: PLC0415

    assert settings_from_table({"reusable": True}, "x").reusable == {
        "idle_ttl": 600.0,
        "replicas": 1,
    }
    table = {"reusable": {"idle_ttl": "30s", "replicas": 2}}
    assert settings_from_table(table, "x").reusable == {"idle_ttl": 30.0, "replicas": 2}
    assert settings_from_table({"reusable": False}, "x").reusable is None
    for bad, says in (
        ("yes", "must be true, false"),
        ({"concurrency": 2}, "unknown key(s) concurrency"),
        ({"replicas": 0}, "at least 1"),
        ({"idle_ttl": "soon"}, "reusable idle_ttl: bad duration 'soon'"),
    ):
        with pytest.raises(DeclarationError, match=re.escape(says)):
            settings_from_table({"reusable": bad}, "x")
    job = Job("model", reusable=Reuse(idle_ttl="1m", replicas=2))
    assert job.to_dict()["settings"]["reusable"] == {"idle_ttl": 60.0, "replicas": 2}
    assert "reusable" not in Job("plain").to_dict()["settings"]
