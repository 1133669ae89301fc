"""Where named environment files are (``--env NAME`` is ``NAME.toml`` on this path).

Looked up in order: the folders of ``EVD_ENVS_PATH`` (colon-separated), the
user's ``$XDG_CONFIG_HOME/evd/envs``, then the files shipped inside the package
(``evd/environments/shipped``: ``base.toml``, ``daft.toml``; the repository's
``envs/`` is a link to them), so an installed wheel has them too. Standard
library only: the CLI's completion lists the names, and must not import the
environments package (an import-linter contract).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "environments" / "shipped"


def search_path(environ: Mapping[str, str]) -> list[Path]:
    """The folders searched for ``NAME.toml``, first match wins."""
    folders = [Path(p) for p in environ.get("EVD_ENVS_PATH", "").split(":") if p]
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    folders.append(Path(config) / "evd" / "envs")
    folders.append(SHIPPED)
    return folders


def names(environ: Mapping[str, str]) -> set[str]:
    """Every environment name on the search path."""
    return {p.stem for folder in search_path(environ) for p in folder.glob("*.toml")}
