"""Where packages come from: uv's own configuration, evd's config, and (opt-in) pip's.

The settings are part of an environment's content hash: the same requirements
resolved against another mirror may give other files.

* uv's variables (``UV_INDEX_URL``, ``UV_EXTRA_INDEX_URL``, ``UV_INDEX``,
  ``UV_DEFAULT_INDEX``, ``UV_FIND_LINKS``, ``UV_INDEX_STRATEGY``, ...) in the
  daemon's environment are passed on, and uv reads its own ``uv.toml`` files;
  their contents join the hash.
* evd's ``config.toml`` ``[index]`` table: ``url``, ``extra_urls``,
  ``find_links``, ``no_index``, ``strategy``, ``pip_conf``.
* pip's configuration (``pip.conf``, ``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``,
  ``PIP_FIND_LINKS``) only when ``pip_conf = true`` or ``EVD_PIP_CONF=1``, and
  then with pip's semantics (``--index-strategy unsafe-best-match``): uv's
  default first-index strategy fails to resolve packages that a ``file://``
  extra index lists in part (measured: ``daft==0.7.26`` and ``tabulate==0.9.0``).
"""

from __future__ import annotations

import configparser
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UV_VARIABLES = (
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_INDEX_STRATEGY",
    "UV_CONFIG_FILE",
    "UV_NO_CONFIG",
    "UV_PRERELEASE",
    "UV_EXCLUDE_NEWER",
    "UV_OFFLINE",
)


@dataclass(frozen=True)
class IndexSettings:
    """The uv arguments and variables that choose package sources, and their digest."""

    args: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()
    config_digest: str = ""

    def identity(self) -> dict[str, Any]:
        """What goes into an environment's content hash."""
        return {
            "args": list(self.args),
            "variables": [list(pair) for pair in self.variables],
            "uv_config": self.config_digest,
        }


def _uv_config_files(environ: Mapping[str, str]) -> list[Path]:
    if environ.get("UV_NO_CONFIG"):
        return []
    if environ.get("UV_CONFIG_FILE"):
        return [Path(environ["UV_CONFIG_FILE"])]
    config = environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return [Path("/etc/uv/uv.toml"), Path(config, "uv", "uv.toml")]


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(path.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()[:16]


def pip_config(environ: Mapping[str, str]) -> dict[str, list[str]]:
    """Pip's index settings from its config files and variables (later ones win)."""
    files = [
        Path("/etc/pip.conf"),
        Path("/etc/xdg/pip/pip.conf"),
        Path(os.path.expanduser("~/.pip/pip.conf")),
        Path(environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "pip", "pip.conf"),
    ]
    if environ.get("PIP_CONFIG_FILE"):
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    parser = configparser.ConfigParser()
    parser.read([str(f) for f in files])
    found: dict[str, list[str]] = {}
    for key in ("index-url", "extra-index-url", "find-links"):
        for section in ("global", "install"):
            if parser.has_option(section, key):
                found[key] = parser.get(section, key).split()
        variable = "PIP_" + key.upper().replace("-", "_")
        if environ.get(variable):
            found[key] = environ[variable].split()
    return found


def index_settings(environ: Mapping[str, str], config: Mapping[str, Any]) -> IndexSettings:
    """The package sources for builds, from the daemon's environment and ``[index]`` config."""
    args: list[str] = []
    if config.get("url"):
        args += ["--default-index", str(config["url"])]
    for url in config.get("extra_urls", []):
        args += ["--index", str(url)]
    for link in config.get("find_links", []):
        args += ["--find-links", str(link)]
    if config.get("no_index"):
        args.append("--no-index")
    strategy = config.get("strategy")
    use_pip = bool(config.get("pip_conf")) or environ.get("EVD_PIP_CONF") == "1"
    if use_pip:
        pip = pip_config(environ)
        for url in pip.get("index-url", []):
            args += ["--default-index", url]
        for url in pip.get("extra-index-url", []):
            args += ["--index", url]
        for link in pip.get("find-links", []):
            args += ["--find-links", link]
        strategy = strategy or "unsafe-best-match"
    if strategy:
        args += ["--index-strategy", str(strategy)]
    variables = tuple((key, environ[key]) for key in UV_VARIABLES if environ.get(key))
    return IndexSettings(tuple(args), variables, _digest(_uv_config_files(environ)))
