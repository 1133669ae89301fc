"""The API document made true: error bodies, every status evd sends, the rules evd checks.

FastAPI derives the document from the routes and the wire dataclasses, which
say the shapes but not evd's rules. ``document`` completes it:

* every error answer is ``{"error": str}`` (``Error``; a 422 for a malformed
  request adds ``detail``), and each operation lists the statuses it really
  sends: 400 and 413 where it reads a body, 401/403 (the HTTP trigger's
  token gate), 404 where its path names something, 422 where it takes
  parameters or a body, 409 where the route says so, 500, and for writes 503
  (the daemon is stopping or cannot write) and 507 (the disk is full);
* parameters carry their bounds (ids are 1..2^63-1: SQLite's integers) and
  lose FastAPI's ``null`` branch (an absent parameter is its default);
* request bodies carry the rules ``evd.daemon.submit.validate`` and the
  triggers check (``BODY_RULES``), so a request the document allows is one
  evd accepts, or answers 404 for (it names a file, folder or volume that is
  not there) or 409.

Request bodies are then checked against the document itself
(``evd.daemon.server.api.bodycheck``) before FastAPI reads them. The fuzzer in
``make test`` (``tests/api``) holds the rest together.
"""

from __future__ import annotations

import re
from typing import Any

from evd.daemon.server.api.common import MAX_ID
from evd.daemon.server.api.runs import STATES
from evd.daemon.submit import validate
from evd.daemon.submit.fanout import ITEM_KEY, MAX_ITEMS
from evd.sdk.checks import LABEL_KEY, LABEL_VALUE, MAX_LABELS, VOLUME_NAME

NO_NUL = "^[^\\u0000]*$"
MESSAGE = "x-evd-message"  # what evd says when a value breaks the rule it sits in
ABSOLUTE = "^/[^\\u0000]*$"


def _whole(pattern: re.Pattern[str]) -> str:
    """A pattern evd matches whole (``fullmatch``) as JSON Schema's, which searches."""
    return f"^(?:{pattern.pattern})$"


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, and what to do"},
        "detail": {
            "type": "array",
            "description": "for a malformed request: where each problem is",
            "items": {
                "type": "object",
                "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}},
            },
        },
    },
}

STATUS_TEXT = {
    400: "the body is not JSON (or not UTF-8)",
    401: "HTTP trigger only: no or a wrong bearer token",
    403: "HTTP trigger only: a browser's request (Origin) or a foreign Host",
    404: "what the request names is not there",
    405: "the method is not allowed on this path (see Allow)",
    409: "the request conflicts with the state of what it names",
    413: "the body is over 8 MiB",
    422: "the request breaks a rule of this document",
    500: "a fault in evd (details in evd.log)",
    503: "evd is stopping, or cannot write its database",
    507: "the disk is full: nothing was recorded",
}

# Above 1 only whole numbers: a fraction shares one CPU or GPU.
_WHOLE = "a number above 0; above 1 only whole numbers make sense (fractions share one)"
_COUNT = {
    "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "integer", "minimum": 0}],
    MESSAGE: _WHOLE.replace("above 0", "0 or more"),
}
_CPUS = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        {"type": "integer", "minimum": 1},
    ],
    MESSAGE: _WHOLE,
}
_NUL_MESSAGE = "contains a NUL byte, which no program accepts"
_SUBMIT_RULES: dict[str, Any] = {
    "command": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "pattern": NO_NUL, MESSAGE: _NUL_MESSAGE},
        MESSAGE: "the command is empty: give a program to run, e.g. `-- echo hi`",
    },
    "file": {"type": "string", "minLength": 1, "pattern": NO_NUL},
    "function": {"type": "string", "pattern": _whole(validate.FUNCTION)},
    "args": {"type": "array", "items": {"type": "string", "pattern": NO_NUL}},
    "name": {
        "type": "string",
        "maxLength": validate.MAX_NAME_CHARS,
        "pattern": _whole(validate.GOOD_NAME),
        MESSAGE: f"a run's name is 1 to {validate.MAX_NAME_CHARS} characters on one line",
    },
    "cwd": {
        "type": "string",
        "pattern": ABSOLUTE,
        MESSAGE: "the working directory must be an absolute path",
    },
    "env": {
        "type": "object",
        "propertyNames": {"pattern": "^[^=\\u0000]+$"},
        "additionalProperties": {"type": "string", "pattern": NO_NUL},
    },
    "timeout": {
        "type": "number",
        "exclusiveMinimum": 0,
        MESSAGE: "the timeout is a positive number of seconds",
    },
    "queue_timeout": {
        "type": "number",
        "exclusiveMinimum": 0,
        MESSAGE: "the queue timeout is a positive number of seconds",
    },
    "priority": {
        "type": "integer",
        "minimum": -validate.MAX_PRIORITY,
        "maximum": validate.MAX_PRIORITY,
    },
    "cpus": _CPUS,
    "gpus": _COUNT,
    "memory": {"type": "integer", "minimum": 0},
    "gpu_memory": {"type": "integer", "minimum": 0},
    "disk": {"type": "integer", "minimum": 0},
    "retries": {"type": "integer", "minimum": 0, "maximum": validate.MAX_RETRIES},
    "restart": {"enum": ["no", "on-failure", "always"]},
    "cache": {"enum": list(validate.CACHE_CHOICES)},
    "labels": {
        "type": "object",
        "maxProperties": MAX_LABELS,
        "propertyNames": {"pattern": _whole(LABEL_KEY)},
        "additionalProperties": {"type": "string", "pattern": _whole(LABEL_VALUE)},
        MESSAGE: f"at most {MAX_LABELS} labels; a label key is 1 to 63 letters, digits, '.',"
        " '_', '/' or '-', starting and ending with a letter or digit; its value is text on"
        " one line, at most 200 characters",
    },
    "after": {
        "type": "array",
        "maxItems": validate.MAX_AFTER,
        "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    },
    "cluster": {"type": "string", "pattern": _whole(validate.CLUSTER)},
    "environment": {"type": "string", "minLength": 1, "pattern": NO_NUL},
}
# Exactly one of `command` and `file`; `function` and `args` only with `file`;
# retries and a restart mode do not go together.
_SUBMIT_SHAPE: dict[str, Any] = {
    MESSAGE: {
        "oneOf": "give either `command` or `file`, not both and not neither"
        " (`args` and `function` go with `file`)",
        "not": "--retries and --restart do not go together: --retries N gives a batch job N"
        " more attempts; --restart keeps a service running until `evd cancel`",
    },
    "oneOf": [
        {
            "required": ["command"],
            "properties": {
                "command": {"type": "array"},
                "file": {"type": "null"},
                "function": {"type": "null"},
                "args": {"maxItems": 0},
            },
        },
        {
            "required": ["file"],
            "properties": {"file": {"type": "string"}, "command": {"type": "null"}},
        },
    ],
    "not": {
        "required": ["retries", "restart"],
        "properties": {"retries": {"minimum": 1}, "restart": {"enum": ["on-failure", "always"]}},
    },
    # A command's files are not known to evd: its result is never cached.
    "if": {"required": ["command"]},
    "then": {
        "properties": {"cache": {"enum": ["off"], MESSAGE: validate.COMMAND_UNCACHED}}
    },
}  # fmt: skip

BODY_RULES: dict[str, dict[str, Any]] = {
    "SubmitRequest": _SUBMIT_RULES,
    "MapRequest": {
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ITEMS,
            # An object item's keys become --KEY arguments.
            "items": {
                "if": {"type": "object"},
                "then": {
                    "propertyNames": {
                        "pattern": _whole(ITEM_KEY),
                        MESSAGE: "a key of an item cannot be an argument name (letters,"
                        " digits, _ and -, not starting with a digit)",
                    }
                },
            },
        }
    },
    "RerunRequest": {"args": {"type": "array", "items": {"type": "string", "pattern": NO_NUL}}},
    "PruneRequest": {"older_than": {"type": "number", "minimum": 0}},
    "EnvPruneRequest": {"older_than": {"type": "number", "minimum": 0}},
    "CachePruneRequest": {"older_than": {"type": "number", "minimum": 0}},
    "EnvBuildRequest": {
        "file": {"type": "string", "minLength": 1, "pattern": NO_NUL},
        "environment": {"type": "string", "minLength": 1, "pattern": NO_NUL},
        "cwd": {"type": "string", "pattern": ABSOLUTE},
    },
    "VolumeRequest": {
        "name": {"type": "string", "pattern": _whole(VOLUME_NAME)},
        "path": {"type": "string", "pattern": ABSOLUTE},
    },
    "WatchRequest": {
        "env": _SUBMIT_RULES["env"],
        "dir": {"type": "string", "pattern": ABSOLUTE},
        "pattern": {"type": "string", "minLength": 1, "pattern": "^[^/\\u0000]+$"},
    },
    "ScheduleRequest": {
        "overlap": {"enum": ["skip", "queue"]},
        "misfire_grace": {"type": "number", "minimum": 0},
    },
}
BODY_SHAPES: dict[str, dict[str, Any]] = {
    "SubmitRequest": _SUBMIT_SHAPE,
    "EnvBuildRequest": {  # a job file, or an environment's name
        "anyOf": [
            {"required": ["file"], "properties": {"file": {"type": "string"}}},
            {"required": ["environment"], "properties": {"environment": {"type": "string"}}},
        ]
    },
}
# Parameters FastAPI cannot constrain: (path, method, name) -> schema.
PARAMETER_RULES: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/v1/runs", "get", "state"): {
        "type": "array",
        "items": {"type": "string", "pattern": STATES},
    },
    ("/v1/runs", "get", "label"): {
        "type": "array",
        "items": {
            "type": "string",
            "pattern": f"^(?:{LABEL_KEY.pattern})=(?:{LABEL_VALUE.pattern})$",
        },
    },
}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Complete FastAPI's document (in place) as this module's docstring says; return it."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for generated in ("HTTPValidationError", "ValidationError"):
        schemas.pop(generated, None)
    schemas["Error"] = ERROR_SCHEMA
    for name, rules in BODY_RULES.items():
        if name in schemas:
            _constrain(schemas[name], rules)
            schemas[name].update(BODY_SHAPES.get(name, {}))
    components["securitySchemes"] = {
        "httpToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "Only on the HTTP trigger's TCP port ($EVD_HOME/http-token);"
            " the Unix socket needs no token.",
        }
    }
    schema["security"] = [{"httpToken": []}]
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                rule = PARAMETER_RULES.get((path, method, parameter["name"]))
                parameter["schema"] = rule or _not_null(parameter.get("schema", {}))
            _document_statuses(path, method, operation)
    return schema


def _constrain(model: dict[str, Any], rules: dict[str, Any]) -> None:
    """Put ``rules`` on ``model``'s properties, keeping ``null`` where the field may be null."""
    properties = model.get("properties", {})
    for field, rule in rules.items():
        if field not in properties:
            continue
        nullable = field not in model.get("required", []) and _allows_null(properties[field])
        described = {k: v for k, v in properties[field].items() if k in ("title", "description")}
        if "default" in properties[field]:
            described["default"] = properties[field]["default"]
        if nullable and isinstance(rule.get(MESSAGE), str):
            described[MESSAGE] = rule[MESSAGE]  # said when neither branch holds
        properties[field] = (
            {**described, "anyOf": [rule, {"type": "null"}]} if nullable else {**described, **rule}
        )


def _allows_null(prop: dict[str, Any]) -> bool:
    return any(branch.get("type") == "null" for branch in prop.get("anyOf", []))


def _not_null(param: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in param.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1 and len(branches) < len(param.get("anyOf", [])):
        extra = {k: v for k, v in param.items() if k != "anyOf"}
        return {**extra, **branches[0]}
    return param


def _document_statuses(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    statuses = {401, 403, 500}
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)
    if "{" in path or "requestBody" in operation:
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413}
    if method != "get":
        statuses |= {503, 507}
    for status in statuses | {int(code) for code in responses if code.startswith(("4", "5"))}:
        entry = responses.setdefault(str(status), {})
        entry.setdefault("description", STATUS_TEXT.get(status, "an error"))
        entry["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
