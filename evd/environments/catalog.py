"""Named environment files: ``envs/NAME.toml``, used as ``evd run --env NAME``.

Where they are looked for is ``evd.envfiles`` (the search path, the shipped
files). A file holds the same keys as a PEP 723 ``[tool.evd]`` table, plus
``python`` and ``dependencies``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from evd.envfiles import SHIPPED, names, search_path
from evd.environments.settings import JobSettings, settings_from_table
from evd.sdk.checks import DeclarationError

BASE = "base"
__all__ = ["BASE", "SHIPPED", "find", "load_file", "names", "search_path"]


def load_file(path: Path) -> JobSettings:
    """The settings in one environment file (named after the file unless it says)."""
    try:
        table = tomllib.loads(path.read_text())
    except OSError as error:
        raise DeclarationError(f"cannot read environment file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DeclarationError(f"environment file {path} is not valid TOML: {error}") from None
    settings = settings_from_table(table, str(path))
    return settings if settings.name else settings.with_name(path.stem)


def find(name: str, environ: Mapping[str, str]) -> Path:
    """The file of the environment ``name``; ``DeclarationError`` lists what exists."""
    for folder in search_path(environ):
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    known = sorted(names(environ))
    raise DeclarationError(
        f"no environment named {name!r}; known: {', '.join(known) or 'none'}."
        f" Add {name}.toml to {search_path(environ)[-2]} or give a .toml path"
    )


def resolve(reference: str, cwd: str, environ: Mapping[str, str]) -> JobSettings:
    """``--env`` as given: a name from the catalog, or a path to a ``.toml`` file."""
    if reference.endswith(".toml") or "/" in reference:
        path = Path(cwd, reference)
        if not path.is_file():
            raise DeclarationError(f"environment file not found: {path}")
        return load_file(path)
    return load_file(find(reference, environ))
