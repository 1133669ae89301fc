"""Printing runs for people: tables, details, one-line summaries."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from evd.describe import command_line, describe_peaks, describe_progress, runtime, short_command
from evd.models import (
    EXIT_CANCELLED,
    EXIT_NOT_STARTED,
    EXIT_TIMED_OUT,
    Run,
    RunState,
    parse_iso,
)
from evd.resources.request import Request
from evd.units import format_duration


def exit_status(run: Run) -> int:
    """The exit code `evd wait` gives for a final run (DESIGN.md's codes when there is none)."""
    if run.state is RunState.TIMED_OUT:
        return EXIT_TIMED_OUT
    if run.state is RunState.CANCELLED:
        return EXIT_CANCELLED
    if run.exit_code is not None:
        return run.exit_code
    return 0 if run.state is RunState.SUCCEEDED else EXIT_NOT_STARTED


def summary(run: Run) -> str:
    """``run 3 (train.py) failed: exited with code 2``."""
    text = f"run {run.id} ({run.name}) {run.state.value}"
    if run.reason:
        text += f": {run.reason}"
    elif run.exit_code is not None and run.state.is_final:
        text += f" (exit {run.exit_code})"
    return text


def table(runs: Sequence[Run]) -> str:
    """The ``evd ps`` table."""
    rows = [("ID", "NAME", "STATE", "EXIT", "RUNTIME", "CREATED", "DETAIL")]
    for run in runs:
        created = time.strftime("%m-%d %H:%M:%S", time.localtime(parse_iso(run.created_at)))
        detail = run.reason if run.reason else short_command(run)
        rows.append(
            (
                str(run.id),
                run.name[:24],
                run.state.value,
                "" if run.exit_code is None else str(run.exit_code),
                runtime(run),
                created,
                detail[:80],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]
        for row in rows
    )


def details(run: Run) -> str:
    """The ``evd show`` page."""
    lines = [
        f"run {run.id}: {run.name}",
        f"  state      {run.state.value}" + (f" ({run.reason})" if run.reason else ""),
        f"  command    {command_line(run)}",
        f"  cwd        {run.cwd}",
        f"  exit code  {'-' if run.exit_code is None else run.exit_code}",
        f"  attempts   {run.attempts}",
        f"  created    {run.created_at}",
        f"  started    {run.started_at or '-'}",
        f"  ended      {run.ended_at or '-'}",
        f"  runtime    {runtime(run)}",
        f"  timeout    {format_duration(run.timeout) if run.timeout else '-'}",
        f"  priority   {run.priority}",
        f"  pid        {run.pid or '-'}",
        f"  log        {run.log_path}",
    ]
    if run.failed_by:
        lines.insert(3, f"  failed by  {run.failed_by.value}")
    if run.kind != "command" or run.env:
        lines.insert(2, f"  kind       {run.kind}")
    if run.env:
        env = f"{run.env} ({run.env_hash})" if run.env_hash else run.env
        lines.append(f"  env        {env}")
    return "\n".join(lines + _sections(run))


def _sections(run: Run) -> list[str]:
    """The parts of ``evd show`` that only some runs have."""
    lines = []
    settings = run.settings
    if settings.get("python") or settings.get("dependencies"):
        packages = ", ".join(settings.get("dependencies", [])) or "none"
        lines.append(f"  python     {settings.get('python') or 'default'}; packages: {packages}")
    if run.resources:
        request = Request.from_dict(run.resources)
        lines.append(f"  resources  {request.describe()}; GPUs held: {run.gpus or '-'}")
    if run.policy:
        lines.append("  policy     " + ", ".join(f"{k}={v}" for k, v in run.policy.items()))
    if run.progress is not None:
        lines.append(f"  progress   {describe_progress(run.progress, run.progress_detail)}")
    if run.metrics:
        lines.append(f"  peaks      {describe_peaks(run.metrics)}")
    if settings.get("secrets"):
        lines.append(f"  secrets    {', '.join(settings['secrets'])} (values never shown)")
    if run.hidden_variables:
        names = ", ".join(run.hidden_variables)
        lines.append(f"  hidden     {names} (from the shell; values kept out of evd's database)")
    for volume in run.volumes:
        lines.append(f"  volume     {volume['name']} = {volume['path']} ({volume['version']})")
    if run.outputs:
        lines.append("  outputs")
        lines.extend(f"    {o['path']}  {o['size']} bytes" for o in run.outputs)
    if run.events:
        lines.append("  history")
        for event in run.events:
            reason = f"  {event.reason}" if event.reason else ""
            lines.append(f"    {event.at}  {event.state.value}{reason}")
    return lines


def progress_bar(fraction: float, detail: dict[str, Any], width: int = 30) -> str:
    """A one-line bar for a terminal: ``[######........] 42% (query 1: Filter, ...)``."""
    filled = round(min(1.0, max(0.0, fraction)) * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {describe_progress(fraction, detail)}"
