"""``EVD_HOME/config.toml``: the daemon's settings file (optional).

Read once at start. Known tables: ``[index]`` (package sources, see
``evd.environments.indexes``). A file that cannot be read stops the daemon
with the reason, rather than running with settings the user did not mean.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from evd.errors import EvdError

KNOWN_TABLES = frozenset({"index"})
INDEX_KEYS = frozenset({"url", "extra_urls", "find_links", "no_index", "strategy", "pip_conf"})


class ConfigError(EvdError):
    """The config file is unreadable or says something evd does not know."""


def load_config(path: Path) -> dict[str, Any]:
    """The parsed config, or ``{}`` when there is no file."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    unknown = set(data) - KNOWN_TABLES
    if unknown:
        raise ConfigError(
            f"{path}: unknown table(s) {sorted(unknown)}; known: {sorted(KNOWN_TABLES)}"
        )
    index = data.get("index", {})
    if set(index) - INDEX_KEYS:
        raise ConfigError(
            f"{path}: unknown [index] key(s) {sorted(set(index) - INDEX_KEYS)};"
            f" known: {sorted(INDEX_KEYS)}"
        )
    return data
