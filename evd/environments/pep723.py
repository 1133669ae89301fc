"""PEP 723 inline script metadata: the ``# /// script`` block that ``uv run`` reads.

evd reads a block as uv does: ``dependencies`` and ``requires-python`` choose
the environment, ``[tool.uv]``'s package-source settings join its build, and
``[tool.evd]`` holds evd's own settings. Keys uv accepts and evd has no use
for (``description``, ``authors``, ``[tool.uv] sources``...) are ignored, each
named in a note for the run's log, never a reason to refuse the script.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from evd.environments.settings import JobSettings, settings_from_table
from evd.sdk.checks import DeclarationError

# The reference regular expression from PEP 723.
_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
_USED = frozenset({"dependencies", "requires-python", "tool"})
# ``[tool.uv]`` keys that are `uv pip install` options of the same name.
_UV_VALUE_OPTIONS = ("exclude-newer", "prerelease", "index-strategy", "resolution")
_UV_URL_OPTIONS = {"index-url": "--default-index", "extra-index-url": "--index"}


@dataclass(frozen=True)
class ScriptBlock:
    """What a script's ``# /// script`` block says, and what evd left out of it."""

    settings: JobSettings
    notes: tuple[str, ...] = ()


def script_metadata(source: str) -> dict[str, Any] | None:
    """The parsed ``script`` block of ``source``, or ``None`` if it has none."""
    blocks = [m for m in _BLOCK.finditer(source) if m.group("type") == "script"]
    if not blocks:
        return None
    if len(blocks) > 1:
        raise DeclarationError("the file has more than one `# /// script` block (PEP 723)")
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in blocks[0].group("content").splitlines(keepends=True)
    )
    try:
        return tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        raise DeclarationError(f"the `# /// script` block is not valid TOML: {error}") from None


def read_script(source: str, filename: str) -> ScriptBlock | None:
    """The settings a PEP 723 block declares (``[tool.evd]`` included), or ``None``."""
    metadata = script_metadata(source)
    if metadata is None:
        return None
    where = f"the `# /// script` block of {filename}"
    notes: list[str] = []
    ignored = sorted(set(metadata) - _USED)
    if ignored:
        notes.append(f"{where}: evd ignores {', '.join(ignored)} (not settings of a run)")
    base: dict[str, Any] = {"dependencies": metadata.get("dependencies", [])}
    if "requires-python" in metadata:
        base["python"] = metadata["requires-python"]
    settings = settings_from_table(base, where)
    tools = metadata.get("tool", {})
    if not isinstance(tools, dict):
        raise DeclarationError(f"{where}: `tool` must be a table, not {tools!r}")
    uv = tools.get("uv")
    if uv is not None:
        args, left_out = uv_arguments(uv, f"[tool.uv] in {filename}")
        settings = settings.merged(JobSettings(uv_args=args))
        if left_out:
            notes.append(
                f"[tool.uv] in {filename}: evd ignores {', '.join(left_out)}"
                " (only package-source settings apply to evd's builds)"
            )
    tool = tools.get("evd")
    if tool is not None:
        settings = settings.merged(settings_from_table(tool, f"[tool.evd] in {filename}"))
    return ScriptBlock(settings, tuple(notes))


def uv_arguments(table: Any, where: str) -> tuple[tuple[str, ...], list[str]]:
    """The ``uv pip install`` arguments a ``[tool.uv]`` table says, and the keys left out."""
    if not isinstance(table, dict):
        raise DeclarationError(f"{where} must be a table, not {table!r}")
    args: list[str] = []
    for key in _UV_VALUE_OPTIONS:
        if key in table:
            args += [f"--{key}", _text(table[key], f"{where}: {key}")]
    for key, flag in _UV_URL_OPTIONS.items():
        values = table.get(key, [])
        for url in [values] if isinstance(values, str) else values:
            args += [flag, _text(url, f"{where}: {key}")]
    for index in _list(table.get("index", []), f"{where}: index"):
        if not isinstance(index, dict) or "url" not in index:
            raise DeclarationError(f"{where}: each [[tool.uv.index]] needs a url, not {index!r}")
        if index.get("explicit"):
            continue  # used only through `sources`, which evd does not apply
        flag = "--default-index" if index.get("default") else "--index"
        args += [flag, _text(index["url"], f"{where}: index.url")]
    for link in _list(table.get("find-links", []), f"{where}: find-links"):
        args += ["--find-links", _text(link, f"{where}: find-links")]
    if table.get("no-index") is True:
        args.append("--no-index")
    known = {*_UV_VALUE_OPTIONS, *_UV_URL_OPTIONS, "index", "find-links", "no-index"}
    return tuple(args), sorted(set(table) - known)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise DeclarationError(f"{what} must be a non-empty string, not {value!r}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise DeclarationError(f"{what} must be a list, not {value!r}")
    return value
