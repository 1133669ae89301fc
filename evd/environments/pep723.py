"""PEP 723 inline script metadata: the ``# /// script`` block that ``uv run`` reads."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from evd.environments.settings import JobSettings, settings_from_table
from evd.sdk.checks import DeclarationError

# The reference regular expression from PEP 723.
_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


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


def settings_from_script(source: str, filename: str) -> JobSettings | None:
    """The settings a PEP 723 block declares (``[tool.evd]`` included), or ``None``."""
    metadata = script_metadata(source)
    if metadata is None:
        return None
    where = f"the `# /// script` block of {filename}"
    base: dict[str, Any] = {"dependencies": metadata.get("dependencies", [])}
    if "requires-python" in metadata:
        base["python"] = metadata["requires-python"]
    unknown = set(metadata) - {"dependencies", "requires-python", "tool"}
    if unknown:
        raise DeclarationError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    settings = settings_from_table(base, where)
    tool = metadata.get("tool", {}).get("evd")
    if tool is not None:
        settings = settings.merged(settings_from_table(tool, f"[tool.evd] in {filename}"))
    return settings
