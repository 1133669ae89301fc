"""``EVD_HOME/config.toml``: the daemon's settings file (optional).

Read once at start. Known tables: ``[index]`` (package sources, see
``evd.environments.indexes``) and ``[resources]``::

    [resources]
    reserve_cpus = 1            # kept for the desktop: jobs get the rest
    reserve_memory = "4GiB"
    hide_gpus = [1]             # indexes or UUID prefixes evd must not use
    fake_gpus = "2x24GiB"       # like EVD_FAKE_GPUS (the variable wins)
    fake_nvlink = "0-1"         # like EVD_FAKE_NVLINK: which fake GPUs are NVLink pairs
    stop_gpu_overuse = false    # stop a job that holds more GPU memory than it asked for

    [jobs]
    telemetry = false           # true: jobs may send library telemetry (no DO_NOT_TRACK=1)
    secret_variables = ["*TOKEN*", "*SECRET*", "*PASSWORD*", "*_KEY", "*CREDENTIALS*"]
                                # shell variables kept out of the database (names only)

    [python]
    downloads = "automatic"     # fetch a Python no interpreter here matches, as uv does; "never"

    [http]
    listen = "127.0.0.1:8765"   # the HTTP trigger (token in EVD_HOME/http-token); off if absent

    [notify]                    # hooks when a run ends: see evd.daemon.triggers.notify
    command = "~/bin/on-run-end"
 A file that cannot be read stops the daemon
with the reason, rather than running with settings the user did not mean.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from evd.daemon.triggers.notify import read_settings
from evd.environments.fetch import SETTINGS
from evd.errors import EvdError
from evd.units import duration_setting, parse_size

KNOWN_TABLES = frozenset({"index", "resources", "jobs", "http", "notify", "python"})
HTTP_KEYS = frozenset({"listen"})
JOBS_KEYS = frozenset({"telemetry", "secret_variables"})
RESOURCE_KEYS = frozenset(
    {
        "reserve_cpus",
        "reserve_memory",
        "hide_gpus",
        "fake_gpus",
        "fake_nvlink",
        "stop_gpu_overuse",
        "min_run_time",
    }
)
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
    _check_resources(path, data.get("resources", {}))
    jobs = data.get("jobs", {})
    if set(jobs) - JOBS_KEYS:
        raise ConfigError(f"{path}: unknown [jobs] key(s) {sorted(set(jobs) - JOBS_KEYS)}")
    if not isinstance(jobs.get("telemetry", False), bool):
        raise ConfigError(f"{path}: [jobs] telemetry must be true or false")
    patterns = jobs.get("secret_variables", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ConfigError(f'{path}: [jobs] secret_variables is a list of globs ("*TOKEN*")')
    try:
        read_settings(data.get("notify", {}))
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    python = data.get("python", {})
    if set(python) - {"downloads"} or python.get("downloads", "automatic") not in SETTINGS:
        raise ConfigError(f'{path}: [python] takes downloads = "automatic" or "never"')
    http = data.get("http", {})
    if set(http) - HTTP_KEYS or not isinstance(http.get("listen", ""), str | int):
        raise ConfigError(f'{path}: [http] takes listen = "127.0.0.1:8765" (or a port)')
    return data


def _check_resources(path: Path, table: dict[str, Any]) -> None:
    if set(table) - RESOURCE_KEYS:
        raise ConfigError(
            f"{path}: unknown [resources] key(s) {sorted(set(table) - RESOURCE_KEYS)};"
            f" known: {sorted(RESOURCE_KEYS)}"
        )
    cpus = table.get("reserve_cpus", 0)
    if isinstance(cpus, bool) or not isinstance(cpus, int | float) or cpus < 0:
        raise ConfigError(f"{path}: [resources] reserve_cpus must be a number >= 0, not {cpus!r}")
    memory = table.get("reserve_memory", "0")
    try:
        parse_size(memory) if isinstance(memory, str) else None
    except ValueError as error:
        raise ConfigError(f"{path}: [resources] reserve_memory: {error}") from None
    if not isinstance(memory, str) and (isinstance(memory, bool) or not isinstance(memory, int)):
        raise ConfigError(f"{path}: [resources] reserve_memory must be a size such as '4GiB'")
    hide = table.get("hide_gpus", [])
    if not isinstance(hide, list) or not all(isinstance(h, int | str) for h in hide):
        raise ConfigError(f"{path}: [resources] hide_gpus must be a list of indexes or UUIDs")
    for key, example in (("fake_gpus", "4x24GiB"), ("fake_nvlink", "0-1,2-3")):
        if not isinstance(table.get(key, ""), str):
            raise ConfigError(f"{path}: [resources] {key} must be a string such as '{example}'")
    if not isinstance(table.get("stop_gpu_overuse", False), bool):
        raise ConfigError(f"{path}: [resources] stop_gpu_overuse must be true or false")
    try:
        seconds = duration_setting(table.get("min_run_time", 0))
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ConfigError(f"{path}: [resources] min_run_time must be a duration such as '1m'")
