"""The CLI's lean readers and writers agree with the standard library's they stand in for."""

import json
import shlex
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evd import jsonwire
from evd.describe import command_line, shell_word
from evd.models.isotime import parse_iso
from evd.models.statenames import ACTIVE_STATE_NAMES, FINAL_STATE_NAMES, STATE_NAMES
from evd.models.states import ACTIVE_STATES, FINAL_STATES, RunState, iso

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values)
def test_json_is_written_and_read_as_json_does(value: object) -> None:
    text = jsonwire.dumps(value)
    assert text == json.dumps(value, separators=(",", ":"))
    assert jsonwire.loads(text.encode()) == json.loads(text)
    assert jsonwire.loads(f" \n{json.dumps(value, indent=2)}\r\n") == value
    assert jsonwire.pretty(value) == json.dumps(value, indent=2)


def test_json_that_does_not_parse_is_explained_by_json() -> None:
    for bad in (b"", b"{", b'{"a": 1} x', b"[1,]", b"\xff", b"nul"):
        with pytest.raises(ValueError) as ours:
            jsonwire.loads(bad)
        with pytest.raises(ValueError) as theirs:
            json.loads(bad)
        assert str(ours.value) == str(theirs.value)
    assert jsonwire.loads("NaN") != jsonwire.loads("NaN")  # json's constants, too
    # As in an `evd` command, where nothing has imported json.
    probe = (
        "from evd import jsonwire\ntry: jsonwire.loads(b'[1, x]')\nexcept ValueError as e: print(e)"
    )
    alone = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert alone.stdout.strip() == "Expecting value: line 1 column 5 (char 4)"
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonwire.dumps({"a": object()})
    # A failed document leaves nothing behind for the next (a client lives long).
    body: list[object] = [{"a": [1]}, object()]
    with pytest.raises(TypeError):
        jsonwire.dumps(body)
    body.pop()
    assert jsonwire.dumps(body) == '[{"a":[1]}]'
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        jsonwire.dumps(cycle)


@settings(max_examples=300)
@given(st.floats(min_value=-62_000_000_000, max_value=250_000_000_000))
def test_api_times_are_read_to_the_bit(timestamp: float) -> None:
    text = iso(timestamp)
    assert text is not None
    assert parse_iso(text) == datetime.fromisoformat(text).timestamp()


def test_other_iso_times_are_left_to_datetime() -> None:
    for text in ("2026-11-30T16:50:39+00:00", "2026-11-30T17:50:39.5+01:00", "2026-11-30"):
        assert parse_iso(text) == datetime.fromisoformat(text).timestamp()
    for text in ("2026-02-30T00:00:00.000000+00:00", "2026-13-01T00:00:00.000000+00:00"):
        with pytest.raises(ValueError):
            parse_iso(text)
    assert parse_iso("2024-02-29T23:59:59.999999+00:00") == (
        datetime(2024, 2, 29, 23, 59, 59, 999999, UTC).timestamp()
    )


@given(st.lists(st.text(), max_size=4))
def test_commands_are_quoted_as_shlex_quotes_them(words: list[str]) -> None:
    assert command_line(words) == shlex.join(words)
    for word in words:
        assert shell_word(word) == shlex.quote(word)


def test_the_state_names_are_the_enums() -> None:
    assert tuple(RunState) == STATE_NAMES
    assert {s.value for s in FINAL_STATES} == FINAL_STATE_NAMES
    assert {s.value for s in ACTIVE_STATES} == ACTIVE_STATE_NAMES
