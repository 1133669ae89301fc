"""Job spec files: read into a request and declarations, refused with the field's path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evd.cli.jobspec import to_toml
from evd.daemon.submit import specfile
from evd.environments.settings import settings_from_table
from evd.errors import InvalidRequest
from evd.models import SubmitRequest
from evd.sdk.checks import DeclarationError
from evd.sdk.dataspec import check_inputs, check_outputs, input_env_var

SPEC = """\
name = "count"
file = "job.py"
function = "main"
args = ["a"]
priority = 2
timeout = "10m"
labels = { team = "nlp" }
meta = { owner = "ana" }
environ = { K = "V" }
network = "none"

[resources]
cpus = 2
memory = "1GiB"

[env]
python = "3.11"
dependencies = ["daft"]

[[inputs]]
name = "corpus"
url = "https://example.org/corpus.txt"
sha256 = "%s"

[[outputs]]
name = "counts"
to = "~/results/{name}/{run_id}/"
""" % ("a" * 64)


def load(folder: Path, text: str, name: str = "job.toml", **given: Any) -> specfile.JobSpec:
    (folder / name).write_text(text)
    (folder / "job.py").write_text("print('hi')\n")
    return specfile.load(SubmitRequest(file=name, cwd=str(folder), **given))


def refusal(folder: Path, text: str, name: str = "job.toml") -> str:
    with pytest.raises(InvalidRequest) as caught:
        load(folder, text, name)
    return str(caught.value)


def test_a_spec_becomes_a_request_and_declarations(tmp_path: Path) -> None:
    spec = load(tmp_path, SPEC)
    assert spec.request.file == str(tmp_path / "job.py")  # relative to the spec's folder
    assert spec.request.cwd == str(tmp_path)
    assert (spec.request.function, spec.request.args, spec.request.name) == ("main", ["a"], "count")
    assert spec.layer.priority == 2 and spec.layer.timeout == 600
    assert spec.layer.resources == {"cpus": 2.0, "memory": 1024**3}
    assert spec.layer.labels == {"team": "nlp"} and spec.layer.meta == {"owner": "ana"}
    assert spec.layer.network == "none" and spec.layer.environ == {"K": "V"}
    assert [i["name"] for i in spec.layer.inputs] == ["corpus"]
    assert spec.layer.outputs[0]["path"] == "counts"  # named after itself
    assert spec.env is not None and spec.env.python == "3.11"
    assert spec.count == 1


def test_the_submitters_flags_win_over_the_spec(tmp_path: Path) -> None:
    spec = load(tmp_path, SPEC, name="job.toml", priority=9, args=["b"], labels={"team": "cv"})
    assert spec.request.priority == 9 and spec.request.args == ["b"]
    assert spec.document["priority"] == 9
    assert spec.document["labels"] == {"team": "cv"}
    assert spec.document["args"] == ["b"]


def test_yaml_reads_as_toml_does(tmp_path: Path) -> None:
    yaml_spec = load(
        tmp_path,
        "command: [sh, -c, 'echo hi']\ntype: service\nrestart: no\nresources: {cpus: 0.5}\n",
        "job.yaml",
    )
    assert yaml_spec.request.command == ["sh", "-c", "echo hi"]
    assert yaml_spec.layer.restart == "no"  # YAML's `no` is false; a restart mode is meant
    service = load(tmp_path, 'command = "sleep 1"\ntype = "service"\n')
    assert service.request.command == ["sleep", "1"]
    assert service.layer.restart == "always"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('command = "true"\ncomand = 1\n', "comand: unknown field"),
        ('command = "true"\n[resources]\nmemroy = "1GiB"\n', "resources.memroy: unknown"),
        ('command = "true"\n[resources]\nmemory = "lots"\n', "resources.memory"),
        ('command = "true"\ntimeout = -1\n', "timeout"),
        ('command = "true"\ncount = 0\n', "count: must be at least 1"),
        ('command = "true"\ntype = "daemon"\n', "type: one of batch, service"),
        ('command = "true"\nnetwork = "wifi"\n', "network: must be one of host, none"),
        ('command = "true"\nfile = "job.py"\n', "command: give command or file"),
        ("priority = 1\n", "give what runs"),
        ('command = "true"\n[[inputs]]\nname = "x"\n', "inputs[0]: give exactly one source"),
        (
            'command = "true"\n[[inputs]]\nname = "x"\nurl = "http://h/x"\nsha256 = "zz"\n',
            "inputs[0].sha256 must be 64 hex digits",
        ),
        ('command = "true"\n[[outputs]]\nname = "x"\nto = "results/"\n', "outputs[0].to"),
        ('command = "true"\n[env]\npython = "3.11"\npackages = []\n', "env.packages: unknown"),
        ('command = "true"\ntype = "service"\nretries = 2\n', "retries: a service restarts"),
        ("command = [1, 2]\n", "command: a list of strings"),
        ('command = "true"\nafter = [0]\n', "after: a list of run ids"),
        ("command = \n", "not valid TOML"),
    ],
)
def test_a_mistake_is_refused_with_its_field(tmp_path: Path, text: str, said: str) -> None:
    message = refusal(tmp_path, text)
    assert message.startswith("job.toml")
    assert said in message


def test_a_missing_or_odd_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="job spec not found"):
        specfile.load(SubmitRequest(file="nope.toml", cwd=str(tmp_path)))
    assert "not valid YAML" in refusal(tmp_path, "a: [\n", "job.yaml")
    assert "expected a mapping" in refusal(tmp_path, "- 1\n", "job.yaml")


def test_a_requests_document_says_what_it_ran() -> None:
    request = SubmitRequest(command=["echo", "hi"], cwd="/tmp", gpus=1.0, cache="off", after=[3])
    doc = specfile.document({"command": ["echo", "hi"], "cwd": "/tmp"}, None)
    assert doc == {"command": ["echo", "hi"], "cwd": "/tmp"}
    full = specfile.to_document(request)
    assert full["resources"] == {"gpus": 1.0}
    assert full["cache"] is False and full["after"] == [3]


def test_a_specs_document_prints_as_toml_that_reads_back(tmp_path: Path) -> None:
    spec = load(tmp_path, SPEC)
    assert tomllib.loads(to_toml(spec.document)) == spec.document
    again = tmp_path / "again"
    again.mkdir()
    (again / "job.toml").write_text(to_toml(spec.document))
    replayed = specfile.load(SubmitRequest(file="job.toml", cwd=str(again)))
    assert replayed.document == spec.document  # absolute paths: it runs the same from anywhere


_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_SCALAR = st.one_of(st.booleans(), st.integers(-(2**62), 2**62), _TEXT)
_VALUE = st.recursive(
    st.one_of(_SCALAR, st.lists(_SCALAR, max_size=3)),
    lambda inner: st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)


@given(
    st.dictionaries(
        _TEXT,
        st.one_of(
            _VALUE,
            st.lists(
                st.dictionaries(_TEXT, _VALUE, min_size=1, max_size=3), min_size=1, max_size=2
            ),
        ),
        max_size=5,
    )
)
def test_to_toml_writes_what_tomllib_reads(document: dict[str, Any]) -> None:
    assert tomllib.loads(to_toml(document)) == document


def test_inputs_and_outputs_are_checked_for_the_sdk_too() -> None:
    found = check_inputs([{"name": "data-set", "s3": "s3://bucket/prefix/", "region": "eu"}])
    assert found == [{"name": "data-set", "s3": "s3://bucket/prefix/", "region": "eu"}]
    assert input_env_var("data-set") == "EVD_INPUT_DATA_SET"
    with pytest.raises(DeclarationError, match="given twice"):
        check_inputs([{"name": "a", "path": "/x"}, {"name": "a", "path": "/y"}])
    with pytest.raises(DeclarationError, match="inside the job's folder"):
        check_inputs([{"name": "a", "path": "/x", "target": "../up"}])
    with pytest.raises(DeclarationError, match="unknown placeholder"):
        check_outputs([{"name": "a", "to": "/r/{user}/"}])
    output = {"name": "a", "path": "out/a.parquet", "to": "s3://bucket/p/{run_id}/"}
    assert check_outputs([output]) == [{**output, "to": ["s3://bucket/p/{run_id}/"]}]


def test_tool_evd_declares_data_and_later_layers_replace_inputs_by_name() -> None:
    env = settings_from_table(
        {
            "network": "none",
            "meta": {"a": "1"},
            "inputs": [{"name": "x", "url": "https://h/x"}, {"name": "y", "path": "/y"}],
        },
        "[tool.evd]",
    )
    job = settings_from_table(
        {"meta": {"b": "2"}, "inputs": [{"name": "x", "path": "/local/x"}]}, "the Job"
    )
    merged = env.merged(job)
    assert merged.network == "none" and merged.meta == {"a": "1", "b": "2"}
    assert [dict(i) for i in merged.inputs] == [
        {"name": "x", "path": "/local/x"},
        {"name": "y", "path": "/y"},
    ]
    with pytest.raises(DeclarationError, match=r"\[tool.evd\]: network"):
        settings_from_table({"network": "bridge"}, "[tool.evd]")
