"""The daemon's yes-or-no body check says what a full JSON Schema validator says.

``schemacheck`` replaces jsonschema-rs in the daemon (10 MiB less resident);
jsonschema-rs stays in the test dependencies as the referee: on every request
body schema of the real API document, for bodies made of the document's own
property names and values near its rules' edges, both must give one verdict.
"""

import json
from functools import cache
from typing import Any, cast

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evd.daemon.server.api.schemacheck import (
    UnsupportedSchema,
    compile_schema,
    ecma_pattern,
    json_equal,
)
from evd.daemon.server.app import create_app


@cache
def document() -> dict[str, Any]:
    # The document is built from the routes alone; no engine is asked anything.
    return create_app(cast(Any, None)).openapi()


def body_schemas() -> dict[str, dict[str, Any]]:
    found = {}
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is not None:
                found[f"{method} {path}"] = {**schema, "components": document()["components"]}
    return found


def property_names(schema: dict[str, Any]) -> list[str]:
    """The property names ``schema`` (or the component it refers to) declares."""
    if "$ref" in schema:
        schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {}))


# Characters where ECMA-262 and Python disagree (\x1c, \x85, \ufeff), the document's
# forbidden ones (NUL, "/", "="), newlines before an end anchor, and ordinary ones,
# alone or at the end of a string that would pass.
EDGES = ["", "\n", "\t", " ", "\x00", "\x1c", "\x85", "\ufeff", "\xa0", "/", "=", ":", "é"]
TEXT = st.text(alphabet="ab_Z9-/=: \n\t\x00\x1c\x85\ufeff\xa0é", max_size=6) | st.builds(
    str.__add__,
    st.sampled_from(["", "a", "x_1", "/tmp", "ray://h:1", "A=b", "local", "queued"]),
    st.sampled_from(EDGES),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=70_000),
    st.sampled_from([0.0, 1.0, 0.5, -1.0, 2.5, 1e300, 10**30]),
    TEXT,
    st.sampled_from(["queued", "running,failed", "local", "auto", "ray://h:1", "/tmp", "1h"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


RUN = {"command": ["true"], "cwd": "/"}
# A valid body of each operation, which the test changes a field or two of.
VALID = {
    "post /v1/runs": RUN,
    "post /v1/runs/{run_id}/rerun": {},
    "post /v1/groups": {"run": RUN, "items": [{"a": 1}]},
    "post /v1/prune": {"older_than": 3600},
    "post /v1/envs/build": {"environment": "base"},
    "post /v1/envs/prune": {},
    "post /v1/cache/prune": {"older_than": 60},
    "post /v1/volumes": {"name": "data", "path": "/tmp"},
    "post /v1/watches": {"dir": "/tmp"},
    "post /v1/schedules": {"run": RUN, "spec": "every 1h"},
    "post /v1/jobs/{name}/run": {},
}


@st.composite
def bodies(draw: st.DrawFn, operation: str) -> Any:
    """A valid body of ``operation`` with a field or two (maybe nested) set or taken out."""
    body = json.loads(json.dumps(VALID[operation]))
    names = property_names(body_schemas()[operation])
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        target, keys = body, names
        if isinstance(body.get("run"), dict) and draw(st.booleans()):
            # the submit inside a fan-out or a schedule
            target, keys = body["run"], property_names(body_schemas()["post /v1/runs"])
        key = draw(st.sampled_from(keys) | TEXT) if keys else draw(TEXT)
        if key in target and draw(st.integers(0, 4)) == 0:
            del target[key]
        else:
            target[key] = draw(SCALARS | JSON)
    return body if draw(st.integers(0, 20)) else draw(JSON)


@pytest.mark.parametrize("operation", sorted(body_schemas()))
def test_every_body_schema_of_the_document_compiles(operation: str) -> None:
    compile_schema(body_schemas()[operation])


def test_the_valid_bodies_are_valid_and_cover_every_operation() -> None:
    assert VALID.keys() == body_schemas().keys()
    for operation, body in VALID.items():
        assert jsonschema_rs.validator_for(body_schemas()[operation]).is_valid(body), operation


@settings(max_examples=3000, deadline=None)
@given(data=st.data(), operation=st.sampled_from(sorted(body_schemas())))
def test_the_verdict_is_jsonschema_rs_verdict(data: st.DataObject, operation: str) -> None:
    body = data.draw(bodies(operation))
    schema = body_schemas()[operation]
    assert compile_schema(schema)(body) is jsonschema_rs.validator_for(schema).is_valid(body)


def test_a_valid_submit_passes_and_a_lax_one_does_not() -> None:
    check = compile_schema(body_schemas()["post /v1/runs"])
    assert check({"command": ["true"], "cwd": "/", "env": {"A": "b"}})
    assert not check({"command": ["true"], "cwd": "/", "priority": "1"})  # pydantic would take it
    assert not check({"command": "true"})


def patterns(schema: Any) -> set[str]:
    """Every ``pattern`` in ``schema``."""
    if isinstance(schema, dict):
        found = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
        return found.union(*(patterns(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(patterns(value) for value in schema))
    return set()


STARTS = ["", "a", "x_1", "ab-c", "/tmp", "A=b", "  local ", "ray://h:1", "queued,failed"]


@pytest.mark.parametrize("pattern", sorted(patterns(document()["components"])))
def test_every_pattern_of_the_document_reads_edge_strings_as_jsonschema_rs(pattern: str) -> None:
    ours = ecma_pattern(pattern)
    theirs = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    for start in STARTS:
        for edge in EDGES:
            for text in (start + edge, edge + start, edge):
                assert (ours.search(text) is not None) is theirs.is_valid(text), repr(text)


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^a$", "a", True),
        ("^a$", "a\n", False),  # Python's $ would match before the newline
        (r"^[^\s]$", "\ufeff", False),  # ECMA white space, not Python's
        (r"^[^\s]$", "\x85", True),
        (r"^\s$", "\x1c", False),
        (r"^[a$]+$", "a$", True),  # $ in a class is a character
        (r"^\$$", "$", True),
    ],
)
def test_patterns_are_read_as_ecma_262(pattern: str, text: str, matches: bool) -> None:
    assert (ecma_pattern(pattern).search(text) is not None) is matches


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [(1, 1.0, True), (True, 1, False), ([1], [True], False), ({"a": 0}, {"a": 0.0}, True)],
)
def test_json_equality(left: Any, right: Any, equal: bool) -> None:
    assert json_equal(left, right) is equal


@pytest.mark.parametrize(
    "schema",
    [{"uniqueItems": True}, {"format": "uri"}, {"pattern": r"^\d$"}, {"$ref": "other.json"}],
)
def test_a_keyword_it_does_not_implement_is_refused_at_compile_time(
    schema: dict[str, Any],
) -> None:
    with pytest.raises(UnsupportedSchema):
        compile_schema(schema)
