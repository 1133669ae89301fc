"""Validation shared by the SDK's declarations: each message says what is wrong and the fix.

Standard library only (job environments import it).
"""

from __future__ import annotations

import re
from typing import Any

from evd.units import parse_duration, parse_size

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
VOLUME_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
# A label: ``team=vision``. Keys as Kubernetes' names (``app.kubernetes.io/name`` fits).
LABEL_KEY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?")
LABEL_VALUE = re.compile(r"[^\n\r\x00]{0,200}")  # some text on one line
MAX_LABELS = 32
ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# "3", "3.11", "3.11.7", a PEP 440 specifier set (">=3.12, <3.13"), or a path.
PYTHON_VERSION = re.compile(r"3(\.\d{1,2}){0,2}")
PYTHON_SPECIFIER = re.compile(r"\s*(~=|==|!=|<=|>=|<|>)\s*\d+(\.\d+){0,2}(\.\*)?\s*")


class DeclarationError(ValueError):
    """A job declaration (``Env``, ``Job``, ``Resources``) was given something it cannot use."""


def check_name(value: Any, what: str) -> str:
    """A job or environment name: letters, digits, ``.``, ``_``, ``-``; 1 to 63 characters."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise DeclarationError(
            f"bad {what} name {value!r}: use 1 to 63 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return value


def check_python(value: Any) -> str | None:
    """A Python request: a version (``3.11``), a specifier set (``>=3.12,<3.13``) or a path."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DeclarationError(f"bad Python version {value!r}: write it as a string such as '3.11'")
    text = value.strip()
    if text.startswith("/"):
        return text
    if PYTHON_VERSION.fullmatch(text):
        return text
    if all(PYTHON_SPECIFIER.fullmatch(part) for part in text.split(",")):
        return text
    raise DeclarationError(
        f"bad Python version {value!r}: use a version such as '3.11' or '3.12.1',"
        " a range such as '>=3.12,<3.13', or an interpreter's absolute path"
    )


def check_requirements(packages: Any) -> list[str]:
    """A list of requirement strings (``"daft==0.7.26"``); a single string is one package."""
    if isinstance(packages, str):
        packages = [packages]
    if not isinstance(packages, (list, tuple)):
        raise DeclarationError(
            f"pip_install takes a list of requirement strings, not {type(packages).__name__}"
        )
    found = []
    for package in packages:
        if not isinstance(package, str) or not package.strip():
            raise DeclarationError(
                f"bad requirement {package!r}: give strings such as 'daft==0.7.26'"
            )
        if package.strip().startswith("-"):
            raise DeclarationError(
                f"bad requirement {package!r}: pip options are not requirements;"
                " index settings belong in uv's or evd's configuration"
            )
        found.append(package.strip())
    return found


def check_env_var(key: Any, value: Any) -> tuple[str, str]:
    """An environment variable: a valid name and a string value."""
    if not isinstance(key, str) or not ENV_VAR.fullmatch(key):
        raise DeclarationError(
            f"bad environment variable name {key!r}: use letters, digits and '_',"
            " not starting with a digit"
        )
    if not isinstance(value, str):
        raise DeclarationError(
            f"environment variable {key} must be a string, not {type(value).__name__}"
            f" {value!r}: write str({value!r}) or quote it"
        )
    if "\0" in value:
        raise DeclarationError(f"environment variable {key} contains a NUL byte")
    return key, value


def check_paths(paths: Any, what: str) -> list[str]:
    """A list of relative paths (``include``): strings, no ``..`` escapes."""
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, (list, tuple)):
        raise DeclarationError(f"{what} takes a list of paths, not {type(paths).__name__}")
    found = []
    for path in paths:
        if not isinstance(path, str) or not path.strip():
            raise DeclarationError(f"bad path {path!r} in {what}: give relative paths as strings")
        if path.startswith("/") or ".." in path.replace("\\", "/").split("/"):
            raise DeclarationError(
                f"bad path {path!r} in {what}: give a path inside the job's folder"
                " (relative, without '..')"
            )
        found.append(path)
    return found


def check_volume(name: Any) -> str:
    """A volume name: a letter, then letters, digits, ``_`` or ``-``."""
    if not isinstance(name, str) or not VOLUME_NAME.fullmatch(name):
        raise DeclarationError(
            f"bad volume name {name!r}: use a letter, then letters, digits, '_' or '-'"
        )
    return name


def volume_env_var(name: str) -> str:
    """The variable that carries a volume's path into a job: ``EVD_VOLUME_IMAGENET``."""
    return "EVD_VOLUME_" + name.upper().replace("-", "_")


def check_count(value: Any, what: str, *, fractional: bool) -> float | None:
    """A non-negative count of CPUs or GPUs (GPUs below 1 share a device)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DeclarationError(f"{what} must be a non-negative number, not {value!r}")
    if not fractional and value != int(value):
        raise DeclarationError(f"{what} must be a whole number, not {value!r}")
    if value >= 1 and value != int(value):
        raise DeclarationError(
            f"{what}={value!r}: above 1 only whole numbers make sense (fractions share one)"
        )
    return float(value)


def check_size(value: Any, what: str) -> int | None:
    """A size in bytes, or a string such as ``"4GiB"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DeclarationError(f"{what} must be a size such as '4GiB', not {value!r}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            return parse_size(value)
        except ValueError as error:
            raise DeclarationError(f"{what}: {error}") from None
    raise DeclarationError(f"{what} must be a size such as '4GiB', not {value!r}")


def check_duration(value: Any, what: str) -> float | None:
    """A duration in seconds, or a string such as ``"30m"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DeclarationError(f"{what} must be a duration such as '30m', not {value!r}")
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as error:
            raise DeclarationError(f"{what}: {error}") from None
        if seconds > 0:
            return seconds
    raise DeclarationError(f"{what} must be a positive duration such as '30m', not {value!r}")


def check_int(value: Any, what: str, *, minimum: int | None = None) -> int:
    """A whole number (priority, retries)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeclarationError(f"{what} must be a whole number, not {value!r}")
    if minimum is not None and value < minimum:
        raise DeclarationError(f"{what} must be at least {minimum}, not {value}")
    return value


RESTART_MODES = ("no", "on-failure", "always")


def check_restart(value: Any) -> str | None:
    """A restart mode for a service job: ``no``, ``on-failure`` or ``always``."""
    if value is None or value in RESTART_MODES:
        return value  # type: ignore[no-any-return]
    raise DeclarationError(
        f"restart must be one of {', '.join(RESTART_MODES)}, not {value!r}"
        " (on-failure or always keep a service running until `evd cancel`)"
    )


def check_text(value: Any, what: str) -> str | None:
    """Optional free text (a description)."""
    if value is None or isinstance(value, str):
        return value
    raise DeclarationError(f"{what} must be a string, not {type(value).__name__}")


def _check_table(value: Any, what: str, known: tuple[str, ...]) -> None:
    """``value`` is a table of ``known`` keys only (a setting: true, false or such a table)."""
    if not isinstance(value, dict):
        raise DeclarationError(
            f"{what} must be true, false, or a table of {' and '.join(known)}, not {value!r}"
        )
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise DeclarationError(
            f"{what}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def check_cache(value: Any) -> bool | dict[str, Any] | None:
    """A result-cache declaration: true or false, or a table with ``version`` and ``ignore``."""
    if value is None or isinstance(value, bool):
        return value
    _check_table(value, "cache", ("version", "ignore"))
    version = value.get("version", "")
    if not isinstance(version, str):
        raise DeclarationError(f"cache version must be a string, not {version!r}")
    ignore = value.get("ignore", [])
    if not isinstance(ignore, list | tuple) or not all(isinstance(i, str) and i for i in ignore):
        raise DeclarationError(f"cache ignore must be a list of option names, not {ignore!r}")
    return {"version": version, "ignore": list(ignore)}


DEFAULT_IDLE_TTL = 600.0  # a warm worker stops after 10 minutes without a run
MAX_REPLICAS = 64


def check_reusable(value: Any) -> dict[str, Any] | None:
    """A warm-worker declaration: true, false, or a table of ``idle_ttl`` and ``replicas``."""
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    _check_table(value, "reusable", ("idle_ttl", "replicas"))
    idle_ttl = check_duration(value.get("idle_ttl", DEFAULT_IDLE_TTL), "reusable idle_ttl")
    replicas = check_int(value.get("replicas", 1), "reusable replicas", minimum=1)
    if replicas > MAX_REPLICAS:
        raise DeclarationError(f"reusable replicas must be at most {MAX_REPLICAS}, not {replicas}")
    return {"idle_ttl": idle_ttl, "replicas": replicas}


def check_labels(value: Any) -> dict[str, str]:
    """Labels: a table of keys (letters, digits, ``.``, ``_``, ``/``, ``-``) to one-line text."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DeclarationError(f"labels must be a table of key = value, not {value!r}")
    if len(value) > MAX_LABELS:
        raise DeclarationError(f"a run takes at most {MAX_LABELS} labels, not {len(value)}")
    for key, text in value.items():
        if not isinstance(key, str) or not LABEL_KEY.fullmatch(key):
            raise DeclarationError(
                f"bad label key {key!r}: 1 to 63 letters, digits, '.', '_', '/' or '-',"
                " starting and ending with a letter or digit"
            )
        if not isinstance(text, str) or not LABEL_VALUE.fullmatch(text):
            raise DeclarationError(
                f"label {key}: the value must be text on one line, at most 200 characters,"
                f" not {text!r}"
            )
    return dict(value)
