"""How runs read in words, shared by the CLI and the TUI (a run's fields in, strings out).

The functions take fields, not a ``Run``: the TUI has wire models, the CLI's
hot commands the API's JSON. No ``pathlib``, ``typing`` or dataclasses here,
since every ``evd ps`` imports it.
"""

from __future__ import annotations

import os
import time

from evd.models.isotime import parse_iso
from evd.units import GIB, format_duration, format_size

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from typing import Any


# The characters shlex.quote leaves a word unquoted for (its pattern, without ``re``).
_SHELL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def shell_word(word: str) -> str:
    """``word`` quoted for a POSIX shell, as ``shlex.quote`` does."""
    if not word:
        return "''"
    if all(char in _SHELL_SAFE for char in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def command_line(command: list[str]) -> str:
    """A run's command as a shell would show it (``shlex.join``)."""
    return " ".join(shell_word(word) for word in command)


def ago(text: str | None, now: float | None = None) -> str:
    """``3m07s ago`` for an API time (``never`` for none)."""
    if text is None:
        return "never"
    return format_duration(max(0.0, (now or time.time()) - parse_iso(text))) + " ago"


def _launched(command: list[str]) -> bool:
    """Whether ``command`` is evd's launcher running a job file (not the user's own command)."""
    return len(command) >= 5 and command[1:3] == ["-m", "evd.sdk.launch"]


def short_command(command: list[str]) -> str:
    """What ran, for a table: a job file as ``FILE[:FUNCTION] ARGS``, not evd's launcher."""
    if _launched(command):
        file, entry = os.path.basename(command[3]), command[4]
        split = command.index("--") if "--" in command else len(command)
        words = command[split + 1 :]
        head = command[:split]
        item = head[head.index("--item") + 1 :][:1] if "--item" in head else []  # fan-out
        return command_line([file if entry == "-" else f"{file}:{entry}", *words, *item])
    return command_line(command)


def job_words(command: list[str]) -> list[str]:
    """The words a run's job was given (a command's arguments after its program)."""
    if _launched(command):
        return command[command.index("--") + 1 :] if "--" in command else []
    return command[1:]


def runtime_seconds(
    started_at: str | None, ended_at: str | None, now: float | None = None
) -> float | None:
    """How long a run ran (or has been running, to ``now``); ``None`` if it never started."""
    if started_at is None:
        return None
    end = parse_iso(ended_at) if ended_at else (now or time.time())
    return max(0.0, end - parse_iso(started_at))


def runtime(started_at: str | None, ended_at: str | None, now: float | None = None) -> str:
    """How long a run ran (or has been running), for people; ``-`` if it never started."""
    seconds = runtime_seconds(started_at, ended_at, now)
    return "-" if seconds is None else format_duration(seconds)


def progress_words(detail: dict[str, Any]) -> str:
    """``query 1: Filter, 66,667 rows`` or ``45/100, epoch 3`` ('' when it says nothing)."""
    parts = []
    if detail.get("operator"):
        where = f"query {detail['query']}: " if detail.get("query") else ""
        parts.append(f"{where}{detail['operator']}, {detail.get('rows', 0):,} rows")
    elif detail.get("total"):
        parts.append(f"{detail.get('done', 0):g}/{detail['total']:g}")
    if detail.get("message"):
        parts.append(str(detail["message"]))
    return ", ".join(parts)


def describe_progress(fraction: float, detail: dict[str, Any]) -> str:
    """``42% (query 1: Filter, 66,667 rows)`` or ``42% (45/100, epoch 3)``."""
    words = progress_words(detail)
    return f"{fraction:.0%}" + (f" ({words})" if words else "")


def describe_peaks(peaks: dict[str, Any]) -> str:
    """``CPU 180%, memory 1.20 GiB, GPU0 3.10 GiB`` from a run's metrics."""
    parts = [f"CPU {peaks.get('cpu_percent', 0):g}%", f"memory {peaks.get('rss', 0) / GIB:.2f} GiB"]
    for index, used in sorted(peaks.get("gpu_memory", {}).items()):
        parts.append(f"GPU{index} {used / GIB:.2f} GiB")
    if peaks.get("disk"):
        parts.append(f"disk {format_size(peaks['disk'])}")
    if peaks.get("gpu_overuse"):
        parts.append(f"warning: {peaks['gpu_overuse']}")
    return ", ".join(parts)


_SOURCES = ("url", "s3", "path", "volume")


def describe_data(
    meta: dict[str, str],
    network: str | None,
    inputs: list[dict[str, Any]],
    published: list[dict[str, Any]] | None,
) -> list[str]:
    """A run's data in lines (``evd show``, the TUI): meta, network, inputs, what was published."""
    lines = []
    if meta:
        lines.append("meta       " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    if network:
        lines.append(f"network    {network}")
    for item in inputs:
        source = next((f"{key} {item[key]}" for key in _SOURCES if key in item), "?")
        staged = item.get("staged")
        said = ""
        if staged:
            how = "from the cache" if staged.get("cached") else "fetched"
            size = f"{format_size(staged['size'])}, " if staged.get("size") is not None else ""
            said = f" -> {staged['path']} ({size}{how})"
        lines.append(f"input      {item['name']}: {source}{said}")
    for item in published or []:
        lines.append(f"published  {item['output']} -> {item['to']} ({item['files']} file(s))")
    return lines


def expected_start_words(expected: str | None, now: float | None = None) -> str:
    """A forecast start for a table: ``in ~12m`` within the hour, else ``~14:32``; ``-``."""
    if not expected:
        return "-"
    at = parse_iso(expected)
    wait = at - (time.time() if now is None else now)
    if wait < 1:
        return "now"
    if wait < 3600:
        return f"in ~{max(1, round(wait / 60))}m" if wait >= 60 else f"in ~{wait:.0f}s"
    local = time.localtime(at)
    same_day = time.localtime(now if now is not None else time.time())[:3] == local[:3]
    return time.strftime("~%H:%M" if same_day else "~%m-%d %H:%M", local)
