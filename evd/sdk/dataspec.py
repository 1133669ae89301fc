"""What a job reads and writes, and where it may reach: inputs, outputs, network, meta.

One shape for ``Job(inputs=[...], outputs=[...], network="none")``, ``[tool.evd]``
and job spec files; each check returns the declaration in its normal form and
says what is wrong and the fix. Standard library only (job environments import it).
"""

from __future__ import annotations

import re
from typing import Any

from evd.sdk.checks import DeclarationError, check_paths, check_volume

INPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
SHA256 = re.compile(r"[0-9a-f]{64}")
S3_URL = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[^\x00]*)?")
HTTP_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")
SOURCES = ("url", "path", "s3", "volume")
INPUT_KEYS = ("name", *SOURCES, "sha256", "target", "endpoint", "region", "credentials")
OUTPUT_KEYS = ("name", "path", "to", "endpoint", "region", "credentials")
NETWORKS = ("host", "none")
MAX_ITEMS = 64
MAX_META = 64
# A local destination's pattern may name these: ``~/results/{name}/{run_id}/``.
PLACEHOLDERS = ("name", "run_id", "output", "date")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def input_env_var(name: str) -> str:
    """The variable that carries an input's path into a job: ``EVD_INPUT_CORPUS``."""
    return "EVD_INPUT_" + name.upper().replace("-", "_")


def _table(value: Any, what: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DeclarationError(f"{what} must be a table, not {value!r}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise DeclarationError(
            f"{what}: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(known)}"
        )
    return value


def _string(table: dict[str, Any], key: str, what: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise DeclarationError(f"{what}.{key} must be a non-empty string, not {value!r}")
    return value.strip()


def _name(table: dict[str, Any], what: str) -> str:
    name = table.get("name")
    if not isinstance(name, str) or not INPUT_NAME.fullmatch(name):
        raise DeclarationError(
            f"{what}.name: give each one a name (a letter, then letters, digits, '_' or '-'),"
            f" not {name!r}"
        )
    return name


def _relative(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    return check_paths([value], what)[0].rstrip("/") or None


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise DeclarationError(f"{what} must be a list of tables, not {value!r}")
    if len(value) > MAX_ITEMS:
        raise DeclarationError(f"{what}: at most {MAX_ITEMS}, not {len(value)}")
    return list(value)


def _unique(found: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    names = [item["name"] for item in found]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DeclarationError(f"{what}: the name(s) {', '.join(twice)} are given twice")
    return found


def _s3_extras(table: dict[str, Any], what: str, checked: dict[str, Any]) -> None:
    for key in ("endpoint", "region", "credentials"):
        value = _string(table, key, what)
        if value is not None:
            checked[key] = value
    endpoint = checked.get("endpoint")
    if endpoint is not None and not HTTP_URL.fullmatch(endpoint):
        raise DeclarationError(f"{what}.endpoint must be an http(s):// address, not {endpoint!r}")
    credentials = checked.get("credentials")
    if credentials is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", credentials):
        raise DeclarationError(
            f"{what}.credentials names the secrets' prefix (MYS3 reads MYS3_ACCESS_KEY_ID and"
            f" MYS3_SECRET_ACCESS_KEY), not {credentials!r}"
        )


def check_input(value: Any, what: str) -> dict[str, Any]:
    """One input: a name, one source (``url``, ``path``, ``s3``, ``volume``), options."""
    table = _table(value, what, INPUT_KEYS)
    checked: dict[str, Any] = {"name": _name(table, what)}
    given = [key for key in SOURCES if table.get(key) is not None]
    if len(given) != 1:
        raise DeclarationError(
            f"{what}: give exactly one source of {', '.join(SOURCES)}"
            f" ({'none' if not given else ' and '.join(given)} given)"
        )
    source = given[0]
    location = _string(table, source, what)
    assert location is not None
    if source == "url" and not HTTP_URL.fullmatch(location):
        raise DeclarationError(f"{what}.url must be an http:// or https:// address")
    if source == "s3" and not S3_URL.fullmatch(location):
        raise DeclarationError(
            f"{what}.s3 must be s3://BUCKET/KEY (or s3://BUCKET/PREFIX/), not {location!r}"
        )
    if source == "volume":
        location = check_volume(location)
    checked[source] = location
    sha = _string(table, "sha256", what)
    if sha is not None:
        if source != "url":
            raise DeclarationError(f"{what}.sha256 goes with a url input")
        if not SHA256.fullmatch(sha.lower()):
            raise DeclarationError(f"{what}.sha256 must be 64 hex digits, not {sha!r}")
        checked["sha256"] = sha.lower()
    target = _relative(_string(table, "target", what), f"{what}.target")
    if target is not None:
        checked["target"] = target
    _s3_extras(table, what, checked)
    if source != "s3" and any(k in checked for k in ("endpoint", "region", "credentials")):
        raise DeclarationError(f"{what}: endpoint, region and credentials go with an s3 input")
    return checked


def check_inputs(value: Any, what: str = "inputs") -> list[dict[str, Any]]:
    """A list of inputs (see ``check_input``), each named once."""
    found = [check_input(item, f"{what}[{i}]") for i, item in enumerate(_list(value, what))]
    return _unique(found, what)


def _destination(text: str, what: str) -> str:
    if text.startswith("s3://"):
        if not S3_URL.fullmatch(text):
            raise DeclarationError(f"{what}: expected s3://BUCKET/PREFIX/, not {text!r}")
    elif not text.startswith(("/", "~")):
        raise DeclarationError(
            f"{what}: a local destination is an absolute folder (~/results/{{name}}/{{run_id}}/),"
            f" not {text!r}"
        )
    for word in _PLACEHOLDER.findall(text):
        if word not in PLACEHOLDERS:
            raise DeclarationError(
                f"{what}: unknown placeholder {{{word}}}; known: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
    return text


def check_output(value: Any, what: str) -> dict[str, Any]:
    """One output: a name, its path under the run's outputs folder, where to publish it."""
    table = _table(value, what, OUTPUT_KEYS)
    checked: dict[str, Any] = {"name": _name(table, what)}
    path = _relative(_string(table, "path", what), f"{what}.path")
    checked["path"] = path or checked["name"]
    to = table.get("to")
    if isinstance(to, str):
        to = [to]
    if to is not None:
        if not isinstance(to, (list, tuple)) or not all(isinstance(t, str) and t for t in to):
            raise DeclarationError(f"{what}.to must be a destination or a list of them")
        checked["to"] = [_destination(t, f"{what}.to") for t in to]
    _s3_extras(table, what, checked)
    return checked


def check_outputs(value: Any, what: str = "outputs") -> list[dict[str, Any]]:
    """A list of outputs (see ``check_output``), each named once."""
    found = [check_output(item, f"{what}[{i}]") for i, item in enumerate(_list(value, what))]
    return _unique(found, what)


def check_network(value: Any, what: str = "network") -> str | None:
    """``"host"`` (the machine's network, the default) or ``"none"`` (loopback only)."""
    if value is None or value in NETWORKS:
        return value  # type: ignore[no-any-return]
    raise DeclarationError(
        f"{what} must be one of {', '.join(NETWORKS)}, not {value!r}"
        " (none: the job gets its own loopback and nothing else)"
    )


def check_meta(value: Any, what: str = "meta") -> dict[str, str]:
    """Free-form notes kept with the run: a table of names to text."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DeclarationError(f"{what} must be a table of name = text, not {value!r}")
    if len(value) > MAX_META:
        raise DeclarationError(f"{what}: at most {MAX_META} entries, not {len(value)}")
    for key, text in value.items():
        if not isinstance(key, str) or not key or len(key) > 63 or "\0" in key:
            raise DeclarationError(f"{what}: bad name {key!r} (1 to 63 characters)")
        if not isinstance(text, str) or len(text) > 4096 or "\0" in text:
            raise DeclarationError(f"{what}.{key} must be text (at most 4096 characters)")
    return dict(value)
