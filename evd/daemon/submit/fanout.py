"""Fan-out: one run per item (``evd run --map``, ``job.map``), and what a group adds up to.

An item is a JSON value. A job's function (``kind`` job or function) is
called with the values themselves: the launcher gets the item as ``--item
JSON`` (see ``evd.sdk.launch``). A plain script or a command gets words, as
if typed after the file: an array's values in order, an object's entries as
``--key value`` (``true`` as a bare ``--key``; ``false`` and ``null`` left
out), anything else one word. Strings are words as they are; other values are
written as JSON (``3``, ``true``, ``[1, 2]``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from evd.errors import InvalidRequest
from evd.models import RunState
from evd.store import RunRecord

MAX_ITEMS = 10_000
MAX_ITEM_BYTES = 128 * 1024 - 1  # one argument of a command line (Linux's MAX_ARG_STRLEN)
CALLS = frozenset({"job", "function"})  # kinds whose item goes to a Python function as JSON
ITEM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def check_items(items: Any) -> list[Any]:
    """The items of a map request, or ``InvalidRequest`` saying which one is wrong and why."""
    if not isinstance(items, list) or not items:
        raise InvalidRequest("a map needs a non-empty list of items (one run per item)")
    if len(items) > MAX_ITEMS:
        raise InvalidRequest(
            f"a map of {len(items):,} items is more than evd takes at once ({MAX_ITEMS:,});"
            " split the list, or give each run a range of items"
        )
    for index, item in enumerate(items):
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str) or not ITEM_KEY.fullmatch(key):
                    raise InvalidRequest(
                        f"item {index}: key {key!r} cannot be an argument name"
                        " (letters, digits, _ and -, not starting with a digit)"
                    )
        size = len(item_json(item).encode())
        if size > MAX_ITEM_BYTES:
            raise InvalidRequest(
                f"item {index} is {size:,} bytes as JSON; a command line takes at most"
                f" {MAX_ITEM_BYTES:,} per argument. Put large inputs in files and map over paths."
            )
    return items


def item_json(item: Any) -> str:
    """The item as one compact JSON text."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def _word(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def item_words(item: Any) -> list[str]:
    """The item as command-line words (for plain scripts and commands)."""
    if isinstance(item, list):
        return [_word(value) for value in item]
    if isinstance(item, dict):
        words: list[str] = []
        for key, value in item.items():
            if value is True:
                words.append(f"--{key}")
            elif value is not False and value is not None:
                words += [f"--{key}", _word(value)]
        return words
    return [_word(item)]


def item_command(command: Sequence[str], kind: str, item: Any) -> list[str]:
    """``command`` (as prepared for one run) made into the run for ``item``."""
    if kind in CALLS and "--" in command:
        split = list(command).index("--")
        return [*command[:split], "--item", item_json(item), *command[split:]]
    return [*command, *item_words(item)]


def group_state(runs: Sequence[RunRecord]) -> str:
    """What the group's runs add up to (see ``evd.models.Group``)."""
    states = [run.state for run in runs]
    if any(not state.is_final for state in states):
        started = any(
            state not in (RunState.QUEUED, RunState.BUILDING, RunState.STAGING) for state in states
        )
        return "running" if started else "queued"
    unsuccessful = [state for state in states if state is not RunState.SUCCEEDED]
    if not unsuccessful:  # runs pruned since had ended: a pruned run is no failure
        return RunState.SUCCEEDED.value
    if all(state is RunState.CANCELLED for state in unsuccessful):
        return RunState.CANCELLED.value
    return RunState.FAILED.value


def group_progress(runs: Sequence[RunRecord], size: int) -> float:
    """The share of the group's work done: a final run counts 1, a running one its progress."""
    if size <= 0:
        return 1.0
    done = sum(1.0 if run.state.is_final else (run.progress or 0.0) for run in runs)
    done += size - len(runs)  # runs pruned since: long finished
    return min(1.0, done / size)


def group_counts(runs: Sequence[RunRecord]) -> dict[str, int]:
    """Runs per state, in the order of the state machine."""
    counts = Counter(run.state for run in runs)
    return {state.value: counts[state] for state in RunState if counts[state]}
