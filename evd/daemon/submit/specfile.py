"""Job spec files: a job as data (``evd run job.toml``, ``job.yaml``).

A spec says what ``evd run``'s flags and a job file's declarations say, in one
document: what runs (``command``, or ``file``/``function``/``args``), where
(``cwd``, ``env``), with what (``[resources]``), under which policies, and the
data it reads and writes (``inputs``, ``outputs``, ``network``). Read here, it
becomes a ``SubmitRequest`` (what runs, where) and a settings layer (the
declarations, over the job file's own); the submitter's flags win over both.

A spec that cannot be read is refused at submit, naming the field:
``job.toml: inputs[1].sha256: must be 64 hex digits``. Paths in a spec are
relative to the spec's folder. ``document`` turns a run's request and layer
back into a spec, which ``evd spec ID`` prints so that any run can be replayed.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from evd.environments.settings import RESOURCE_KEYS, JobSettings, settings_from_table
from evd.errors import InvalidRequest
from evd.models import SubmitRequest
from evd.sdk.checks import DeclarationError, check_duration, check_int

T = TypeVar("T")

SUFFIXES = (".toml", ".yaml", ".yml")
TYPES = ("batch", "service")
MAX_COUNT = 1000
MAX_SPEC_BYTES = 1024 * 1024
# What runs, and where: these become the request's fields.
RUN_KEYS = ("name", "command", "file", "function", "args", "cwd", "env", "after", "queue_timeout")
# The declarations: a settings layer, as ``[tool.evd]`` says them.
SETTING_KEYS = (
    "environ", "secrets", "volumes", "resources", "timeout", "priority", "retries", "restart",
    "keep_children", "cluster", "cache", "reusable", "labels", "meta", "inputs", "outputs",
    "network", "preemptible",
)  # fmt: skip
KNOWN = ("type", "count", *RUN_KEYS, *SETTING_KEYS)
ENV_KEYS = ("name", "python", "dependencies", "environ", "secrets", "include", "volumes")


@dataclass(frozen=True)
class JobSpec:
    """A spec file read: the request it makes, its declarations, and how many runs."""

    request: SubmitRequest  # the submitter's fields over the spec's
    layer: JobSettings  # the spec's declarations (over the job file's)
    env: JobSettings | None  # an inline ``[env]`` table: the Python and packages
    count: int
    document: dict[str, Any]  # the spec in its normal form (``evd spec``)


def is_spec(file: str | None) -> bool:
    """Whether ``file`` names a job spec rather than a Python job file."""
    return file is not None and file.lower().endswith(SUFFIXES)


class _Refused(Exception):
    """A field of the spec is wrong: ``path`` says which."""

    def __init__(self, path: str, message: str) -> None:
        said = not path or message.startswith((f"{path}[", f"{path}."))  # it names the field
        super().__init__(message if said else f"{path}: {message}")


def parse(text: str, name: str) -> dict[str, Any]:
    """The spec's document: TOML, or YAML for ``.yaml``/``.yml``."""
    if name.lower().endswith(".toml"):
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InvalidRequest(f"{name} is not valid TOML: {error}") from None
    import yaml  # noqa: PLC0415 - only for YAML specs

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidRequest(f"{name} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise InvalidRequest(f"{name}: expected a mapping of fields, not {type(document).__name__}")
    return document


def load(request: SubmitRequest) -> JobSpec:
    """Read the spec ``request.file`` names; the request's own fields win over the spec's."""
    assert request.file is not None
    cwd = request.cwd or os.getcwd()
    path = Path(os.path.normpath(os.path.join(cwd, request.file)))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidRequest(f"job spec not found: {path}") from None
    except OSError as error:
        raise InvalidRequest(f"cannot read job spec {path}: {error.strerror}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise InvalidRequest(f"{path.name} is over {MAX_SPEC_BYTES // 1024} KiB: not a job spec")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{path.name} is not UTF-8 text") from None
    try:
        return _read(parse(text, path.name), path.parent, request)
    except _Refused as error:
        raise InvalidRequest(f"{path.name}: {error}") from None


def _read(doc: dict[str, Any], folder: Path, given: SubmitRequest) -> JobSpec:
    unknown = sorted(str(key) for key in doc if key not in KNOWN)
    if unknown:
        raise _Refused(
            unknown[0],
            f"unknown field{'s' if len(unknown) > 1 else ''} ({', '.join(unknown)});"
            f" known: {', '.join(sorted(KNOWN))}",
        )
    kind = doc.get("type", "batch")
    if kind not in TYPES:
        raise _Refused("type", f"one of {', '.join(TYPES)}, not {kind!r}")
    count = _checked("count", check_int, doc.get("count", 1), "it", minimum=1)
    if count > MAX_COUNT:
        raise _Refused("count", f"at most {MAX_COUNT}, not {count}")
    spec_request = _run_fields(doc, folder)
    layer_table = {key: doc[key] for key in SETTING_KEYS if key in doc}
    if layer_table.get("restart") is False:  # YAML 1.1 reads `no` as false
        layer_table["restart"] = "no"
    if kind == "service":
        if layer_table.get("retries"):
            raise _Refused("retries", "a service restarts when it exits: give restart, not retries")
        layer_table.setdefault("restart", "always")
    layer = _settings(layer_table)
    env_table = doc.get("env")
    env_layer = None
    if isinstance(env_table, dict):
        bad = sorted(set(env_table) - set(ENV_KEYS))
        if bad:
            raise _Refused(f"env.{bad[0]}", f"unknown; an env table takes {', '.join(ENV_KEYS)}")
        env_layer = _checked("env", settings_from_table, env_table, "env")
    request = _over(given, spec_request)
    flags = to_document(request)
    document = {"type": kind, "count": count, **layer_table, **flags}
    for table in ("resources", "labels"):  # the flags' over the spec's, key by key
        document[table] = {**layer_table.get(table, {}), **flags.get(table, {})}
    if env_layer is not None and given.environment is None:
        document["env"] = env_table
    document = {key: document[key] for key in KNOWN if document.get(key) not in (None, [], {})}
    if kind == "batch":
        document.pop("type")
    if count == 1:
        document.pop("count")
    return JobSpec(request=request, layer=layer, env=env_layer, count=count, document=document)


def _checked(path: str, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``check(*args, **kwargs)``; a ``DeclarationError`` becomes a refusal at ``path``."""
    try:
        return check(*args, **kwargs)
    except DeclarationError as error:
        message = str(error)
        for prefix in (": ", f"{path}: ", f"{path} ", "it "):
            message = message.removeprefix(prefix)
        raise _Refused(path, message) from None


def _settings(table: dict[str, Any]) -> JobSettings:
    """The declarations, each checked on its own so that a refusal names its field."""
    for key, value in table.items():
        if key != "resources":
            _checked(key, settings_from_table, {key: value}, "")
            continue
        if not isinstance(value, dict):
            raise _Refused("resources", f"a table of {', '.join(RESOURCE_KEYS)}")
        for name, amount in value.items():
            if name not in RESOURCE_KEYS:
                raise _Refused(f"resources.{name}", f"unknown; known: {', '.join(RESOURCE_KEYS)}")
            _checked(f"resources.{name}", settings_from_table, {name: amount}, "")
    try:
        return settings_from_table(table, "")
    except DeclarationError as error:  # fields that only disagree together
        raise _Refused("", str(error).removeprefix(": ")) from None


def _words(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise _Refused(path, f"a list of strings, not {value!r}")
    return list(value)


def _path(value: Any, path: str, folder: Path) -> str:
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise _Refused(path, f"a path, not {value!r}")
    return os.path.normpath(folder / Path(value).expanduser())


def _run_fields(doc: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The fields of the request the spec makes (relative paths resolved from ``folder``)."""
    fields = _what_runs(doc, folder)
    fields["cwd"] = _path(doc.get("cwd", "."), "cwd", folder)
    env = doc.get("env")
    if isinstance(env, str):
        local = folder / env
        fields["environment"] = str(local) if env.endswith(".toml") or "/" in env else env
    elif env is not None and not isinstance(env, dict):
        raise _Refused("env", f"an environment's name or file, or a table, not {env!r}")
    if "after" in doc:
        after = doc["after"]
        if not isinstance(after, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in after
        ):
            raise _Refused("after", f"a list of run ids, not {after!r}")
        fields["after"] = after
    if "queue_timeout" in doc:
        fields["queue_timeout"] = _checked(
            "queue_timeout", check_duration, doc["queue_timeout"], "queue_timeout"
        )
    return fields


def _what_runs(doc: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``command``, or ``file`` with ``function`` and ``args``; and ``name``."""
    fields: dict[str, Any] = {}
    if "command" in doc and "file" in doc:
        raise _Refused("command", "give command or file, not both")
    command = doc.get("command")
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as error:
            raise _Refused("command", f"cannot split it into words: {error}") from None
    if command is not None:
        fields["command"] = _words(command, "command")
    if "file" in doc:
        fields["file"] = _path(doc["file"], "file", folder)
    elif "command" not in doc:
        raise _Refused("", 'give what runs: command = [...] or file = "job.py"')
    for key in ("function", "name"):
        if key in doc:
            if not isinstance(doc[key], str):
                raise _Refused(key, f"a string, not {doc[key]!r}")
            fields[key] = doc[key]
    if "args" in doc:
        fields["args"] = _words(doc["args"], "args")
    return fields


def _over(given: SubmitRequest, spec: dict[str, Any]) -> SubmitRequest:
    """The submitter's request (its flags, its shell) over the spec's fields."""
    merged = dataclasses.replace(given, file=None, command=None, cwd=spec["cwd"])
    for key, value in spec.items():
        current = getattr(given, key)
        if key == "after":
            merged.after = list(dict.fromkeys([*value, *given.after]))
        elif key in ("command", "file", "cwd", "args") or current is None:
            setattr(merged, key, value)
    if given.args:  # words after the spec's name replace its args
        merged.args = list(given.args)
    return merged


def to_document(request: SubmitRequest) -> dict[str, Any]:
    """A request as a spec's fields (what runs, where, and the flags it was given)."""
    resources = {
        key: getattr(request, key) for key in RESOURCE_KEYS if getattr(request, key) is not None
    }
    cache = {"use": True, "off": False}.get(request.cache or "")
    document: dict[str, Any] = {
        "name": request.name,
        "command": request.command,
        "file": request.file,
        "function": request.function,
        "args": request.args,
        "cwd": request.cwd,
        "env": request.environment,
        "after": request.after,
        "queue_timeout": request.queue_timeout,
        "timeout": request.timeout,
        "priority": request.priority,
        "retries": request.retries,
        "restart": request.restart,
        "keep_children": request.keep_children,
        "preemptible": request.preemptible,
        "cluster": request.cluster,
        "cache": cache,
        "labels": request.labels,
        "resources": resources,
    }
    return {key: value for key, value in document.items() if value not in (None, [], {})}


def document(recorded: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The spec a run ran with: ``stored`` (kept at submit) or one made from its request."""
    if stored:
        return stored
    fields = {f.name for f in dataclasses.fields(SubmitRequest)}
    return to_document(SubmitRequest(**{k: v for k, v in recorded.items() if k in fields}))
