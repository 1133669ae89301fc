"""Printing runs for people: tables, details, one-line summaries.

A run here is the API's JSON of it (``evd show ID --json``), a plain dict:
the hot commands never build the wire models (their dataclasses cost more
to create than the call to the daemon). A ``Run`` becomes one with
``run.to_dict()``.
"""

from __future__ import annotations

import time

from evd.describe import (
    command_line,
    describe_data,
    describe_peaks,
    describe_progress,
    expected_start_words,
    runtime,
    short_command,
)
from evd.models.isotime import parse_iso
from evd.models.statenames import (
    EXIT_CANCELLED,
    EXIT_NOT_STARTED,
    EXIT_TIMED_OUT,
    FINAL_STATE_NAMES,
)
from evd.resources.words import describe_request
from evd.units import format_duration, format_size

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    RunJson = dict[str, Any]


def exit_status(run: RunJson) -> int:
    """The exit code `evd wait` gives for a final run (DESIGN.md's codes when there is none)."""
    if run["state"] == "timed_out":
        return EXIT_TIMED_OUT
    if run["state"] == "cancelled":
        return EXIT_CANCELLED
    if run.get("exit_code") is not None:
        # A job that exited 0 but whose run failed after it (its outputs not published).
        return int(run["exit_code"]) or (1 if run["state"] == "failed" else 0)
    return 0 if run["state"] == "succeeded" else EXIT_NOT_STARTED


def summary(run: RunJson) -> str:
    """``run 3 (train.py) failed: exited with code 2``."""
    text = f"run {run['id']} ({run['name']}) {run['state']}"
    if run.get("reason"):
        text += f": {run['reason']}"
    elif run.get("exit_code") is not None and run["state"] in FINAL_STATE_NAMES:
        text += f" (exit {run['exit_code']})"
    return text


def table(runs: Sequence[RunJson]) -> str:
    """The ``evd ps`` table."""
    rows = [("ID", "NAME", "STATE", "START", "EXIT", "RUNTIME", "CREATED", "DETAIL")]
    for run in runs:
        created = time.strftime("%m-%d %H:%M:%S", time.localtime(parse_iso(run["created_at"])))
        detail = run.get("reason") or short_command(run["command"])
        exit_code = run.get("exit_code")
        rows.append(
            (
                str(run["id"]),
                run["name"][:24],
                run["state"],
                expected_start_words(run.get("expected_start")) if run["state"] == "queued" else "",
                "" if exit_code is None else str(exit_code),
                runtime(run.get("started_at"), run.get("ended_at")),
                created,
                detail[:80],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]
        for row in rows
    )


def details(run: RunJson) -> str:
    """The ``evd show`` page."""
    reason, exit_code, timeout = run.get("reason"), run.get("exit_code"), run.get("timeout")
    lines = [
        f"run {run['id']}: {run['name']}",
        f"  state      {run['state']}" + (f" ({reason})" if reason else ""),
        f"  command    {command_line(run['command'])}",
        f"  cwd        {run['cwd']}",
        f"  exit code  {'-' if exit_code is None else exit_code}",
        f"  attempts   {run.get('attempts', 0)}",
        f"  created    {run['created_at']}",
        f"  started    {run.get('started_at') or '-'}",
        f"  ended      {run.get('ended_at') or '-'}",
        f"  runtime    {runtime(run.get('started_at'), run.get('ended_at'))}",
        f"  timeout    {format_duration(timeout) if timeout else '-'}",
        f"  estimate   {_estimate(run)}",
        f"  priority   {run.get('priority', 0)}",
        f"  pid        {run.get('pid') or '-'}",
        f"  log        {run['log_path']}",
    ]
    if run.get("failed_by"):
        lines.insert(3, f"  failed by  {run['failed_by']}")
    kind, env = run.get("kind", "command"), run.get("env")
    if kind != "command" or env:
        lines.insert(2, f"  kind       {kind}")
    if env:
        env_hash = run.get("env_hash")
        lines.append(f"  env        {f'{env} ({env_hash})' if env_hash else env}")
    return "\n".join(lines + _sections(run))


def _sections(run: RunJson) -> list[str]:
    """The parts of ``evd show`` that only some runs have."""
    lines = []
    settings = run.get("settings") or {}
    if settings.get("python") or settings.get("dependencies"):
        packages = ", ".join(settings.get("dependencies", [])) or "none"
        lines.append(f"  python     {settings.get('python') or 'default'}; packages: {packages}")
    if resources := run.get("resources"):
        asked = describe_request(
            float(resources.get("cpus", 1.0)),
            int(resources.get("memory", 0)),
            float(resources.get("gpus", 0.0)),
            int(resources.get("gpu_memory", 0)),
        )
        if resources.get("disk"):
            asked += f", {format_size(int(resources['disk']))} of disk"
        lines.append(f"  resources  {asked}; GPUs held: {run.get('gpus') or '-'}")
    if policy := run.get("policy"):
        lines.append("  policy     " + ", ".join(f"{k}={v}" for k, v in policy.items()))
    if run.get("progress") is not None:
        detail = run.get("progress_detail") or {}
        lines.append(f"  progress   {describe_progress(run['progress'], detail)}")
    if metrics := run.get("metrics"):
        lines.append(f"  peaks      {describe_peaks(metrics)}")
    if settings.get("secrets"):
        lines.append(f"  secrets    {', '.join(settings['secrets'])} (values never shown)")
    if hidden := run.get("hidden_variables"):
        names = ", ".join(hidden)
        lines.append(f"  hidden     {names} (from the shell; values kept out of evd's database)")
    for volume in run.get("volumes") or []:
        lines.append(f"  volume     {volume['name']} = {volume['path']} ({volume['version']})")
    lines += _labels_and_cache(run)
    lines += _data(run)
    if events := run.get("events"):
        lines.append("  history")
        for event in events:
            said = f"  {event['reason']}" if event.get("reason") else ""
            lines.append(f"    {event['at']}  {event['state']}{said}")
    return lines


def progress_bar(fraction: float, detail: dict[str, Any], width: int = 30) -> str:
    """A one-line bar for a terminal: ``[######........] 42% (query 1: Filter, ...)``."""
    filled = round(min(1.0, max(0.0, fraction)) * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {describe_progress(fraction, detail)}"


def _estimate(run: RunJson) -> str:
    """``~2m05s (from runs like it); starts in ~3m`` or ``-`` without history."""
    seconds = run.get("estimate")
    text = "-" if seconds is None else f"~{format_duration(seconds)} (from runs like it)"
    if run["state"] == "queued":
        text += f"; starts {expected_start_words(run.get('expected_start'))}"
    return text


def _data(run: RunJson) -> list[str]:
    """``evd show``'s lines for a run's data: meta, network, inputs, outputs, what was published."""
    settings = run.get("settings") or {}
    lines = ["  " + line for line in describe_data(
        run.get("meta") or {}, settings.get("network"), run.get("inputs") or [], None
    )]  # fmt: skip
    if outputs := run.get("outputs"):
        lines.append("  outputs")
        lines.extend(f"    {o['path']}  {o['size']} bytes" for o in outputs)
    lines += ["  " + line for line in describe_data({}, None, [], run.get("published"))]
    return lines


def _labels_and_cache(run: RunJson) -> list[str]:
    """``evd show``'s lines for a run's labels and its place in the result cache."""
    lines = []
    if labels := run.get("labels"):
        lines.append("  labels     " + ", ".join(f"{k}={v}" for k, v in labels.items()))
    if key := run.get("cache_key"):
        source = run.get("cached_from")
        taken = f"; result taken from run {source}" if source else ""
        lines.append(f"  cache      key {key[:12]}{taken}")
    return lines
