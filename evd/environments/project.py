"""A project's environment for ``evd run file.py:function``, found as the ``ev`` CLI does.

The nearest ``pyproject.toml`` (``[project].dependencies``, ``requires-python``)
or ``requirements.txt`` above the file gives the packages; the nearest
``.python-version`` gives the Python.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from evd.environments.settings import JobSettings, settings_from_table
from evd.sdk.checks import DeclarationError


def _parents(start: Path) -> list[Path]:
    return [start, *start.parents]


def _requirements_txt(path: Path) -> list[str]:
    found = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise DeclarationError(
                f"{path}, line {number}: {line!r} is a pip option; evd reads plain requirements"
                " (index settings go in uv's or evd's configuration)"
            )
        found.append(line)
    return found


def _pyproject(path: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise DeclarationError(f"{path} is not valid TOML: {error}") from None
    project = data.get("project")
    if not isinstance(project, dict) or "dependencies" not in project:
        return None
    table: dict[str, Any] = {"dependencies": project["dependencies"]}
    if "requires-python" in project:
        table["python"] = project["requires-python"]
    return table


def project_settings(file: Path) -> JobSettings | None:
    """The settings of the project ``file`` belongs to, or ``None`` outside any project."""
    table: dict[str, Any] | None = None
    source = ""
    for folder in _parents(file.parent):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _pyproject(pyproject)
            if table is not None:
                source = str(pyproject)
                break
        requirements = folder / "requirements.txt"
        if requirements.is_file():
            table, source = {"dependencies": _requirements_txt(requirements)}, str(requirements)
            break
    for folder in _parents(file.parent):
        version_file = folder / ".python-version"
        if version_file.is_file():
            lines = version_file.read_text().split()
            if lines:
                table = table or {}
                table["python"] = lines[0]
                source = source or str(version_file)
            break
    if table is None:
        return None
    return settings_from_table(table, source)
