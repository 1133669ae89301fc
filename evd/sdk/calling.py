"""Turn a job's command-line words into a call: ``a b --k v`` is ``f("a", "b", k="v")``.

Standard library only (runs inside job environments). Words are converted to
``int``, ``float`` or ``bool`` when the parameter is annotated so.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class CallError(ValueError):
    """The words do not fit the function's parameters."""


def split_words(words: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    """Positional words, and ``--name value`` / ``--name=value`` / ``--flag`` options."""
    positional: list[str] = []
    options: dict[str, str | bool] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("--") and len(word) > 2:
            key, sep, value = word[2:].partition("=")
            key = key.replace("-", "_")
            if sep:
                options[key] = value
            elif index + 1 < len(words) and not words[index + 1].startswith("--"):
                options[key] = words[index + 1]
                index += 1
            else:
                options[key] = True
        else:
            positional.append(word)
        index += 1
    return positional, options


def _annotation_name(parameter: inspect.Parameter) -> str:
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):  # `from __future__ import annotations`
        return annotation.replace(" ", "")
    return getattr(annotation, "__name__", "")


def _convert(value: str | bool, parameter: inspect.Parameter) -> Any:
    kind = _annotation_name(parameter)
    if kind in ("bool", "bool|None"):
        if isinstance(value, bool):
            return value
        if value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise CallError(f"--{parameter.name} takes true or false, not {value!r}")
    if isinstance(value, bool):
        if kind and kind not in ("str", "Any"):
            raise CallError(f"--{parameter.name} needs a value")
        return value
    try:
        if kind in ("int", "int|None"):
            return int(value)
        if kind in ("float", "float|None"):
            return float(value)
    except ValueError:
        raise CallError(f"{parameter.name} takes a number ({kind}), not {value!r}") from None
    return value


def bind(
    function: Callable[..., Any], words: list[str], *, partial: bool = False
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments for ``function`` from ``words``; ``CallError`` says what does not fit.

    ``partial``: more arguments will follow (a fan-out's item), so some may be missing.
    """
    positional, options = split_words(words)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return list(positional), dict(options)
    params = list(signature.parameters.values())
    takes_var = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    takes_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    slots = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) > len(slots) and not takes_var:
        raise CallError(
            f"{function.__name__} takes {len(slots)} positional argument(s),"
            f" {len(positional)} given: {positional}"
        )
    args = [
        _convert(word, slots[i]) if i < len(slots) else word for i, word in enumerate(positional)
    ]
    by_name = signature.parameters
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        parameter = by_name.get(key)
        if parameter is None and not takes_kw:
            names = ", ".join(f"--{p.name}" for p in params if p.kind is not p.VAR_POSITIONAL)
            raise CallError(f"{function.__name__} has no parameter --{key} (it takes: {names})")
        kwargs[key] = _convert(value, parameter) if parameter is not None else value
    try:
        (signature.bind_partial if partial else signature.bind)(*args, **kwargs)
    except TypeError as error:
        raise CallError(f"{function.__name__}: {error}") from None
    return args, kwargs


def bind_item(
    function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], item: Any
) -> tuple[list[Any], dict[str, Any]]:
    """``args``/``kwargs`` with a fan-out item added; ``CallError`` if the call no longer fits.

    An array's values go after ``args``, an object's entries into ``kwargs``
    (``-`` in a key read as ``_``), anything else is one more positional argument.
    """
    if isinstance(item, list):
        args = [*args, *item]
    elif isinstance(item, dict):
        kwargs = {**kwargs, **{key.replace("-", "_"): value for key, value in item.items()}}
    else:
        args = [*args, item]
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or C function: let the call itself say
        return args, kwargs
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise CallError(f"{function.__name__}: {error} (item {json.dumps(item)})") from None
    return args, kwargs
