"""Named environment files: ``envs/NAME.toml``, used as ``evd run --env NAME``.

Looked up in order: the folders of ``EVD_ENVS_PATH`` (colon-separated), the
user's ``$XDG_CONFIG_HOME/evd/envs``, then the files shipped inside the package
(``evd/environments/shipped``: ``base.toml``, ``daft.toml``; the repository's
``envs/`` is a link to them), so an installed wheel has them too. A file holds
the same keys as a PEP 723 ``[tool.evd]`` table, plus ``python`` and ``dependencies``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from evd.environments.settings import JobSettings, settings_from_table
from evd.sdk.checks import DeclarationError

BASE = "base"
SHIPPED = Path(__file__).resolve().parent / "shipped"


def search_path(environ: Mapping[str, str]) -> list[Path]:
    """The folders searched for ``NAME.toml``, first match wins."""
    folders = [Path(p) for p in environ.get("EVD_ENVS_PATH", "").split(":") if p]
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    folders.append(Path(config) / "evd" / "envs")
    folders.append(SHIPPED)
    return folders


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


def names(environ: Mapping[str, str]) -> set[str]:
    """Every environment name on the search path."""
    return {p.stem for folder in search_path(environ) for p in folder.glob("*.toml")}


def resolve(reference: str, cwd: str, environ: Mapping[str, str]) -> JobSettings:
    """``--env`` as given: a name from the catalog, or a path to a ``.toml`` file."""
    if reference.endswith(".toml") or "/" in reference:
        path = Path(cwd, reference)
        if not path.is_file():
            raise DeclarationError(f"environment file not found: {path}")
        return load_file(path)
    return load_file(find(reference, environ))
