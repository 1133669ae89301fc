"""Fan-out groups on the command line: ``evd run --map``; ``gID`` in ``wait``/``cancel``/``show``.

A group's id is written ``g12`` wherever a run id may go, so scripts can keep
one id for a whole fan-out (as Slurm's array job ids): ``evd run -q --map``
prints it.
"""

from __future__ import annotations

import os
import time

from evd.cli.output import exit_status, summary, table
from evd.cli.say import error
from evd.cli.types import refused
from evd.errors import InvalidRequest
from evd.jsonwire import loads, pretty
from evd.models.statenames import FINAL_STATE_NAMES, STATE_NAMES

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from evd.cli.output import RunJson
    from evd.cli.spec import Args
    from evd.transport import Transport

    GroupJson = dict[str, Any]  # a group as the API's JSON has it (evd show gID --json)

FOLLOW_POLL = 0.5


def run_or_group(text: str) -> tuple[str, int]:
    """``12`` (a run) or ``g12`` (a group) as ``("run", 12)`` or ``("group", 12)``."""
    kind, digits = ("group", text[1:]) if text[:1] in ("g", "G") else ("run", text)
    if not digits.isdigit() or int(digits) <= 0:
        refused(f"expected a run id (12) or a group id (g3), not {text!r}")
    return kind, int(digits)


def read_items(path: str) -> list[Any]:
    """The items of an ``--map`` file: one JSON value per line (blank lines skipped)."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError as exc:
        raise InvalidRequest(f"--map {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"--map {path}: not UTF-8 text (one JSON value per line)") from None
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(loads(line))
        except ValueError as exc:
            raise InvalidRequest(
                f"--map {path}, line {number}: not JSON ({exc}); each line is one item,"
                ' e.g. ["a.txt"] or {"path": "a.txt", "n": 3}'
            ) from None
    if not items:
        raise InvalidRequest(f"--map {path} has no items: write one JSON value per line")
    return items


def done(group: GroupJson) -> int:
    """How many of its runs have ended."""
    return sum(n for state, n in group["counts"].items() if state in FINAL_STATE_NAMES)


def describe(group: GroupJson) -> str:
    """``group 3 (score) running: 7 of 10 ended (6 succeeded, 1 failed), 2 running, 1 queued``."""
    counts = group["counts"]
    shown = [state for state in STATE_NAMES if state in counts]
    ended = [f"{counts[s]} {s}" for s in shown if s in FINAL_STATE_NAMES]
    active = [f"{counts[s]} {s}" for s in shown if s not in FINAL_STATE_NAMES]
    text = (
        f"group {group['id']} ({group['name']}) {group['state']}:"
        f" {done(group)} of {group['size']} ended"
    )
    if ended:
        text += f" ({', '.join(ended)})"
    if active:
        text += ", " + ", ".join(active)
    return text


def in_order(runs: Sequence[RunJson]) -> list[RunJson]:
    """A group's runs in the order of their items."""
    return sorted(runs, key=lambda run: run.get("group_index") or 0)


def group_status(runs: Sequence[RunJson]) -> int:
    """A finished group's exit code: 0 if every run succeeded, else the first failure's code."""
    for run in in_order(runs):
        if run["state"] != "succeeded":
            return exit_status(run)
    return 0


def runs_of(api: Transport, group_id: int) -> list[RunJson]:
    """Every run of the group."""
    runs: list[RunJson] = api.call("GET", f"/v1/runs?group={int(group_id)}")
    return runs


def listed(api: Transport, active: bool, limit: int | None) -> list[GroupJson]:
    """Fan-out groups, newest first (``active``: only those with a run not yet ended)."""
    query = ["active=true"] if active else []
    if limit is not None:
        query.append(f"limit={int(limit)}")
    found: list[GroupJson] = api.call(
        "GET", "/v1/groups" + (f"?{'&'.join(query)}" if query else "")
    )
    return found


def submit(api: Transport, run: dict[str, Any], items_file: str, opts: Args) -> int:
    """``evd run --map FILE ...``: one run per item; print the group (or follow it)."""
    items = read_items(items_file)
    # Each item is a run to store: give a large map the time it needs.
    timeout = max(api.timeout or 60.0, len(items) / 50)
    group = api.call("POST", "/v1/groups", {"run": run, "items": items}, timeout=timeout)
    return report(api, group, opts)


def report(api: Transport, group: GroupJson, opts: Args) -> int:
    """Print a submitted group as ``evd run`` was asked to (or follow it)."""
    if opts.json:
        print(pretty(group))
    elif opts.quiet:
        print(f"g{group['id']}")
    else:
        ids = group["run_ids"]
        span = f"runs {ids[0]}-{ids[-1]}" if len(ids) > 1 else f"run {ids[0]}"
        print(f"submitted group g{group['id']} ({group['name']}): {group['size']} runs ({span})")
    if group["state"] == "failed" and not opts.quiet and not opts.json:
        # Every run failed before it could start (a mistake in the file): say why now.
        first = api.call("GET", f"/v1/runs/{group['run_ids'][0]}")
        error(f"{describe(group)}; {summary(first)}")
        return exit_status(first)
    if opts.follow:
        return follow(api, group["id"])
    return 0


def follow(api: Transport, group_id: int) -> int:
    """Print each run of the group as it ends; exit with the group's code."""
    reported: set[int] = set()
    try:
        while True:
            runs = runs_of(api, group_id)
            for run in in_order(runs):
                if run["state"] in FINAL_STATE_NAMES and run["id"] not in reported:
                    reported.add(run["id"])
                    print(summary(run), flush=True)
            if all(run["state"] in FINAL_STATE_NAMES for run in runs):
                print(describe(api.call("GET", f"/v1/groups/{int(group_id)}")))
                return group_status(runs)
            time.sleep(FOLLOW_POLL)
    except KeyboardInterrupt:
        error(f"stopped following; group g{group_id} goes on (`evd wait g{group_id}`)")
        return 130


def wait(api: Transport, group_id: int, timeout: float | None, quiet: bool) -> int | None:
    """``evd wait gID``: the group's exit code, or ``None`` if ``timeout`` passed first."""
    group = api.wait_group_json(group_id, timeout=timeout)
    if group["state"] in ("queued", "running"):
        error(f"group g{group_id} is still {group['state']} after the --timeout")
        return None
    if not quiet:
        print(describe(group))
    return group_status(runs_of(api, group_id))


def cancel(api: Transport, group_id: int) -> None:
    """``evd cancel gID``: cancel its runs that have not ended, wait for them, report."""
    group = api.call("POST", f"/v1/groups/{int(group_id)}/cancel")
    if group["state"] in ("queued", "running"):
        print(f"group g{group_id} ({group['name']}): stopping its running runs")
        group = api.wait_group_json(group_id, timeout=60)
    print(describe(group))


def show(api: Transport, group_id: int, as_json: bool) -> None:
    """``evd show gID``: the group and its runs."""
    group = api.call("GET", f"/v1/groups/{int(group_id)}")
    if as_json:
        print(pretty(group))
        return
    where = os.path.basename(group["file"]) if group.get("file") else "-"
    if group.get("function"):
        where += f":{group['function']}"
    print(f"group g{group['id']}: {group['name']}")
    print(f"  state      {group['state']} ({done(group)} of {group['size']} ended)")
    print(f"  progress   {group['progress']:.0%}")
    print(f"  job        {where}")
    print(f"  created    {group['created_at']}")
    print(f"  ended      {group.get('ended_at') or '-'}")
    runs = runs_of(api, group_id)
    if runs:
        print(table(in_order(runs)))


def listing(groups: Sequence[GroupJson]) -> str:
    """The groups part of ``evd ps``."""
    rows = [("GROUP", "NAME", "STATE", "DONE", "PROGRESS")]
    for group in groups:
        rows.append(
            (
                f"g{group['id']}",
                group["name"][:24],
                group["state"],
                f"{done(group)}/{group['size']}",
                f"{group['progress']:.0%}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)
