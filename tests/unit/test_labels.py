"""Label declarations: checked, and merged key by key (a job's over its env's)."""

from __future__ import annotations

import re

import pytest

from evd.environments.settings import settings_from_table
from evd.sdk import DeclarationError, Env, Job
from evd.sdk.checks import MAX_LABELS, check_labels


def test_labels_are_one_line_values_under_kubernetes_style_keys() -> None:
    assert check_labels({"team": "vision", "app.kubernetes.io/name": "", "a": "x y"}) == {
        "team": "vision",
        "app.kubernetes.io/name": "",
        "a": "x y",
    }
    assert check_labels(None) == {}
    for bad, says in (
        (["team"], "must be a table"),
        ({"-team": "x"}, "bad label key '-team'"),
        ({"team-": "x"}, "bad label key 'team-'"),
        ({"k" * 64: "x"}, "bad label key"),
        ({"team": "a\nb"}, "text on one line"),
        ({"team": "x" * 201}, "at most 200 characters"),
        ({"team": 3}, "text on one line"),
        ({f"k{i}": "" for i in range(MAX_LABELS + 1)}, f"at most {MAX_LABELS} labels"),
    ):
        with pytest.raises(DeclarationError, match=re.escape(says)):
            check_labels(bad)


def test_labels_merge_key_by_key() -> None:
    env_labels = settings_from_table({"labels": {"team": "nlp", "tier": "gold"}}, "env")
    job_labels = settings_from_table({"labels": {"team": "vision"}}, "job")
    assert env_labels.merged(job_labels).labels == {"team": "vision", "tier": "gold"}
    job = Job("x", Env("3.11"), labels={"team": "vision"})
    assert job.to_dict()["settings"]["labels"] == {"team": "vision"}
    assert "labels" not in Job("plain").to_dict()["settings"]
