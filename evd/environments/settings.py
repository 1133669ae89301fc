"""``JobSettings``: one shape for what every kind of declaration says.

An ``Env``/``Job`` in a file, a PEP 723 ``[tool.evd]`` table, an ``envs/*.toml``
file and a ``pyproject.toml`` all become ``JobSettings``; later sources override
earlier ones key by key (``merged``). Validation reuses the SDK's checks, so a
TOML file and an ``Env(...)`` given the same nonsense say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from evd.sdk.checks import (
    DeclarationError,
    check_cache,
    check_count,
    check_duration,
    check_env_var,
    check_int,
    check_labels,
    check_name,
    check_paths,
    check_python,
    check_requirements,
    check_restart,
    check_reusable,
    check_size,
    check_text,
    check_volume,
)
from evd.sdk.dataspec import check_inputs, check_meta, check_network, check_outputs

RESOURCE_KEYS = ("cpus", "memory", "gpus", "gpu_memory", "disk")
KNOWN_KEYS = frozenset(
    {
        "name", "description", "python", "requires-python", "dependencies", "environ",
        "secrets", "include", "volumes", "resources", "retries", "restart", "timeout",
        "priority", "schedule", "cluster", "keep_children", "cache", "reusable", "labels",
        "meta", "inputs", "outputs", "network", "preemptible", *RESOURCE_KEYS,
    }
)  # fmt: skip


@dataclass(frozen=True)
class JobSettings:
    """A job's environment and policies; ``None`` means "not said here"."""

    name: str | None = None
    description: str | None = None
    python: str | None = None
    dependencies: tuple[str, ...] | None = None
    environ: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    resources: dict[str, float | int] = field(default_factory=dict)
    retries: int | None = None
    restart: str | None = None
    timeout: float | None = None
    priority: int | None = None
    schedule: str | None = None
    cluster: str | None = None  # a Ray cluster's address: the job runs there (Daft's Ray runner)
    keep_children: bool | None = None  # leave the job's leftover processes running
    uv_args: tuple[str, ...] = ()  # package-source options for the build (a script's [tool.uv])
    cache: bool | dict[str, Any] | None = None  # reuse a succeeded run's result (version, ignore)
    reusable: dict[str, Any] | None = None  # warm workers: idle_ttl, replicas
    labels: dict[str, str] = field(default_factory=dict)  # key = value, for `evd ps -l`
    meta: dict[str, str] = field(default_factory=dict)  # notes kept with the run
    inputs: tuple[dict[str, Any], ...] = ()  # staged before the run starts (evd.sdk.dataspec)
    outputs: tuple[dict[str, Any], ...] = ()  # published when the run ends
    network: str | None = None  # host | none
    preemptible: bool | None = None  # may be stopped for a run of higher priority

    def merged(self, other: JobSettings) -> JobSettings:
        """These settings with everything ``other`` says on top (lists and tables merge)."""
        return JobSettings(
            name=_pick(other.name, self.name),
            description=_pick(other.description, self.description),
            python=_pick(other.python, self.python),
            dependencies=_pick(other.dependencies, self.dependencies),
            environ={**self.environ, **other.environ},
            secrets=_union(self.secrets, other.secrets),
            include=_union(self.include, other.include),
            volumes=_union(self.volumes, other.volumes),
            resources={**self.resources, **other.resources},
            retries=_pick(other.retries, self.retries),
            restart=_pick(other.restart, self.restart),
            timeout=_pick(other.timeout, self.timeout),
            priority=_pick(other.priority, self.priority),
            schedule=_pick(other.schedule, self.schedule),
            cluster=_pick(other.cluster, self.cluster),
            keep_children=_pick(other.keep_children, self.keep_children),
            uv_args=other.uv_args or self.uv_args,
            cache=_pick(other.cache, self.cache),
            reusable=_pick(other.reusable, self.reusable),
            labels={**self.labels, **other.labels},
            meta={**self.meta, **other.meta},
            inputs=_by_name(self.inputs, other.inputs),
            outputs=_by_name(self.outputs, other.outputs),
            network=_pick(other.network, self.network),
            preemptible=_pick(other.preemptible, self.preemptible),
        )

    def with_name(self, name: str | None) -> JobSettings:
        """A copy with ``name`` set."""
        return replace(self, name=name)

    def to_dict(self) -> dict[str, Any]:
        """The settings that were said, for the run's record."""
        data = {
            "name": self.name,
            "description": self.description,
            "python": self.python,
            "dependencies": list(self.dependencies) if self.dependencies is not None else None,
            "environ": self.environ,
            "secrets": list(self.secrets),
            "include": list(self.include),
            "volumes": list(self.volumes),
            "resources": self.resources,
            "retries": self.retries,
            "restart": self.restart,
            "timeout": self.timeout,
            "priority": self.priority,
            "schedule": self.schedule,
            "cluster": self.cluster,
            "keep_children": self.keep_children,
            "uv_args": list(self.uv_args),
            "cache": self.cache,
            "reusable": self.reusable,
            "labels": self.labels,
            "meta": self.meta,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "network": self.network,
            "preemptible": self.preemptible,
        }
        return {key: value for key, value in data.items() if value not in (None, [], {})}


def _pick(first: Any, second: Any) -> Any:
    return first if first is not None else second


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *second]))


def _by_name(
    first: tuple[dict[str, Any], ...], second: tuple[dict[str, Any], ...]
) -> tuple[dict[str, Any], ...]:
    """Inputs or outputs: ``second``'s replace ``first``'s of the same name."""
    merged = {item["name"]: item for item in first}
    merged.update({item["name"]: item for item in second})
    return tuple(merged.values())


def _flag(value: Any, what: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise DeclarationError(f"{what} must be true or false, not {value!r}")
    return value


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DeclarationError(f"{what} must be a list of strings, not {value!r}")
    return tuple(value)


def _resources(table: dict[str, Any], where: str) -> dict[str, float | int]:
    found: dict[str, float | int] = {}
    for key in RESOURCE_KEYS:
        if key not in table:
            continue
        value = table[key]
        checked: float | int | None
        if key in ("cpus", "gpus"):
            checked = check_count(value, f"{where}: {key}", fractional=True)
        else:
            checked = check_size(value, f"{where}: {key}")
        if checked is not None:
            found[key] = checked
    if found.get("cpus") == 0:
        raise DeclarationError(f"{where}: cpus must be above 0 (a fraction such as 0.25 is fine)")
    return found


def settings_from_table(table: dict[str, Any], where: str) -> JobSettings:
    """Validate a settings table (TOML, or an ``Env``'s ``to_dict``) into ``JobSettings``.

    ``where`` names the source in messages (``envs/daft.toml``, ``[tool.evd] in x.py``).
    """
    if not isinstance(table, dict):
        raise DeclarationError(f"{where}: expected a table of settings, not {table!r}")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise DeclarationError(
            f"{where}: unknown setting(s) {', '.join(unknown)};"
            f" known: {', '.join(sorted(KNOWN_KEYS))}"
        )
    try:
        python = table.get("python", table.get("requires-python"))
        environ = table.get("environ", {})
        if not isinstance(environ, dict):
            raise DeclarationError(f"environ must be a table of strings, not {environ!r}")
        resources_table = dict(table.get("resources", {}))
        resources_table.update({k: table[k] for k in RESOURCE_KEYS if k in table})
        deps = table.get("dependencies")
        return JobSettings(
            name=None if table.get("name") is None else check_name(table["name"], "environment"),
            description=check_text(table.get("description"), "description"),
            python=check_python(python),
            dependencies=None if deps is None else tuple(check_requirements(deps)),
            environ=dict(check_env_var(k, v) for k, v in environ.items()),
            secrets=tuple(
                check_env_var(s, "")[0] for s in _strings(table.get("secrets", []), "secrets")
            ),
            include=tuple(check_paths(table.get("include", []), "include")),
            volumes=tuple(check_volume(v) for v in _strings(table.get("volumes", []), "volumes")),
            resources=_resources(resources_table, where),
            retries=None
            if table.get("retries") is None
            else check_int(table["retries"], "retries", minimum=0),
            restart=check_restart(table.get("restart")),
            timeout=check_duration(table.get("timeout"), "timeout"),
            priority=None
            if table.get("priority") is None
            else check_int(table["priority"], "priority"),
            schedule=check_text(table.get("schedule"), "schedule"),
            cluster=check_text(table.get("cluster"), "cluster"),
            keep_children=_flag(table.get("keep_children"), "keep_children"),
            cache=check_cache(table.get("cache")),
            reusable=check_reusable(table.get("reusable")),
            labels=check_labels(table.get("labels")),
            meta=check_meta(table.get("meta")),
            inputs=tuple(check_inputs(table.get("inputs"))),
            outputs=tuple(check_outputs(table.get("outputs"))),
            network=check_network(table.get("network")),
            preemptible=_flag(table.get("preemptible"), "preemptible"),
        )
    except DeclarationError as error:
        message = str(error)
        raise DeclarationError(
            message if message.startswith(where) else f"{where}: {message}"
        ) from None
