r"""A yes-or-no JSON Schema (2020-12) check for the keywords evd's API document uses.

``BodyCheck`` asks one question of every request body: does the document's
schema allow it? A general validator answers it in microseconds but costs
the daemon ~10 MiB of resident memory (jsonschema-rs: its library's code and
its compiled schemas), a sixth of the daemon's footprint, held for the
daemon's lifetime to answer that one question. This module compiles a schema
into nested closures instead: about 30 µs for a submit body, no memory beyond
the closures. The explanation of a refusal is still ``jsonschema``'s.

It knows the keywords the document uses and refuses to compile a schema with
any other (``UnsupportedSchema``), so a document that grows a new keyword
fails the tests instead of being checked loosely. Semantics follow the
standard where Python differs: ``pattern`` is an ECMA-262 regular expression
(``$`` is the end of the string, ``\s`` is ECMA's white space), ``1.0`` is an
integer, ``true`` is not ``1``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that say nothing about validity (annotations), and evd's own.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
)
# ECMA-262's WhiteSpace and LineTerminator: what ``\s`` matches in a schema's pattern.
_ECMA_SPACE = (
    "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)
_TYPES: dict[str, Check] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "integer": lambda value: (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and value.is_integer())
    ),
}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword (or a form of one) this checker does not implement."""


def compile_schema(schema: dict[str, Any]) -> Check:
    """A function that says whether a JSON value (as ``json.loads`` gives it) is valid.

    ``$ref`` may point into the schema itself (``#/components/schemas/Name``).
    """
    return _Compiler(schema).compile(schema)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:  # noqa: PLR0912 (one branch per keyword)
        if schema is True:
            return lambda _value: True
        if schema is False:
            return lambda _value: False
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"a schema must be an object or a boolean, not {schema!r}")
        checks: list[Check] = []
        for keyword, argument in schema.items():
            if keyword in _ANNOTATIONS or keyword.startswith("x-") or keyword == "components":
                continue
            if keyword in ("then", "else"):
                continue  # compiled with "if"
            if keyword == "type":
                checks.append(_type_check(argument))
            elif keyword in ("enum", "const"):
                checks.append(_one_of_values(argument if keyword == "enum" else [argument]))
            elif keyword == "$ref":
                checks.append(self._ref(argument))
            elif keyword in ("anyOf", "oneOf", "allOf"):
                checks.append(_combine(keyword, [self.compile(part) for part in argument]))
            elif keyword == "not":
                checks.append(_negated(self.compile(argument)))
            elif keyword == "if":
                checks.append(self._conditional(schema))
            elif keyword in _STRING_KEYWORDS:
                checks.append(_on(str, _STRING_KEYWORDS[keyword](argument)))
            elif keyword in _NUMBER_KEYWORDS:
                checks.append(_on_number(_NUMBER_KEYWORDS[keyword](argument)))
            elif keyword in ("minItems", "maxItems", "items"):
                checks.append(_on(list, self._array_keyword(keyword, argument)))
            elif keyword in _OBJECT_KEYWORDS:
                checks.append(_on(dict, self._object_keyword(keyword, argument, schema)))
            else:
                raise UnsupportedSchema(f"keyword {keyword!r} is not implemented")
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)

    def _ref(self, reference: str) -> Check:
        if not reference.startswith("#/"):
            raise UnsupportedSchema(f"only references into the document itself: {reference!r}")
        if reference not in self.refs:
            self.refs[reference] = _pending  # a recursive schema refers to itself
            target: Any = self.root
            for part in reference[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            self.refs[reference] = self.compile(target)
        refs = self.refs
        # Looked up at each use: a recursive reference is still pending here.
        return lambda value: refs[reference](value)  # noqa: PLW0108

    def _conditional(self, schema: dict[str, Any]) -> Check:
        condition = self.compile(schema["if"])
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        return lambda value: then(value) if condition(value) else otherwise(value)

    def _array_keyword(self, keyword: str, argument: Any) -> Check:
        if keyword == "minItems":
            return lambda items: len(items) >= argument
        if keyword == "maxItems":
            return lambda items: len(items) <= argument
        each = self.compile(argument)
        return lambda items: all(each(item) for item in items)

    def _object_keyword(self, keyword: str, argument: Any, schema: dict[str, Any]) -> Check:
        if keyword == "maxProperties":
            return lambda members: len(members) <= argument
        if keyword == "required":
            names = list(argument)
            return lambda members: all(name in members for name in names)
        if keyword == "propertyNames":
            name_check = self.compile(argument)
            return lambda members: all(name_check(name) for name in members)
        if keyword == "additionalProperties":
            known = frozenset(schema.get("properties", ()))
            extra = self.compile(argument)
            return lambda members: all(
                extra(value) for name, value in members.items() if name not in known
            )
        checks = {name: self.compile(sub) for name, sub in argument.items()}
        return lambda members: all(
            check(members[name]) for name, check in checks.items() if name in members
        )


_OBJECT_KEYWORDS = frozenset(
    {"properties", "required", "additionalProperties", "propertyNames", "maxProperties"}
)


def _pending(_value: Any) -> bool:
    raise AssertionError("a reference was used while it was being compiled")


def _type_check(argument: str | list[str]) -> Check:
    names = [argument] if isinstance(argument, str) else list(argument)
    unknown = [name for name in names if name not in _TYPES]
    if unknown:
        raise UnsupportedSchema(f"unknown type {unknown[0]!r}")
    checks = [_TYPES[name] for name in names]
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(check(value) for check in checks)


def _one_of_values(options: list[Any]) -> Check:
    return lambda value: any(json_equal(value, option) for option in options)


def _negated(check: Check) -> Check:
    return lambda value: not check(value)


def _combine(keyword: str, parts: list[Check]) -> Check:
    if keyword == "anyOf":
        return lambda value: any(part(value) for part in parts)
    if keyword == "allOf":
        return lambda value: all(part(value) for part in parts)
    return lambda value: sum(1 for part in parts if part(value)) == 1


def _on(kind: type, check: Check) -> Check:
    """``check`` for values of ``kind``; other values pass (a keyword applies to its type)."""
    return lambda value: not isinstance(value, kind) or check(value)


def _on_number(check: Check) -> Check:
    return lambda value: not _TYPES["number"](value) or check(value)


def ecma_pattern(pattern: str) -> re.Pattern[str]:
    r"""``pattern`` (ECMA-262, as JSON Schema has it) as a Python regular expression.

    Translates the two places the languages differ on the patterns evd writes:
    ``$`` (Python's also matches before a final newline) and ``\s``.
    ``\d``, ``\w``, ``\b`` and the like are refused (they differ too, on Unicode).
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped == "s":
                out.append(_ECMA_SPACE if in_class else f"[{_ECMA_SPACE}]")
            elif escaped in ("S", "d", "D", "w", "W", "b", "B"):
                raise UnsupportedSchema(f"\\{escaped} in pattern {pattern!r} is not implemented")
            else:
                out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
        index += 1
    return re.compile("".join(out))


def _pattern(argument: str) -> Check:
    search = ecma_pattern(argument).search
    return lambda text: search(text) is not None


_STRING_KEYWORDS: dict[str, Callable[[Any], Check]] = {
    "minLength": lambda bound: lambda text: len(text) >= bound,
    "maxLength": lambda bound: lambda text: len(text) <= bound,
    "pattern": _pattern,
}
_NUMBER_KEYWORDS: dict[str, Callable[[Any], Check]] = {
    "minimum": lambda bound: lambda number: number >= bound,
    "maximum": lambda bound: lambda number: number <= bound,
    "exclusiveMinimum": lambda bound: lambda number: number > bound,
    "exclusiveMaximum": lambda bound: lambda number: number < bound,
}


def json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON has it: ``1 == 1.0``, but ``true`` is not ``1`` and ``[1] != [true]``."""
    if isinstance(left, bool) or isinstance(right, bool) or left is None or right is None:
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return bool(left == right)  # NaN equals nothing, as in Python
    if isinstance(left, str) or isinstance(right, str):
        return type(left) is type(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(v, right[k]) for k, v in left.items())
    return False
