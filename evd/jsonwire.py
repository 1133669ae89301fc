"""The API's JSON for the client, read and written by the standard library's C codec.

``import json`` imports ``re`` (and with it ``enum``, ``functools`` and
``collections``) to compile patterns only its pure-Python fallback uses: on
this machine more than half of what an ``evd ps`` costs. Its C accelerator
``_json``, which does all of ``json``'s work anyway, needs none of them. This
module drives it as ``json.JSONDecoder`` and ``json.JSONEncoder`` do, with the
same results (``tests/unit/test_jsonwire.py`` holds them to ``json``'s), and
leaves to ``json`` whatever the accelerator cannot do: a Python without it,
indented output, and explaining a document that does not parse.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WHITESPACE = " \t\n\r"  # JSON's, which json.loads skips around a document


_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Decoding:
    """The settings ``_json.make_scanner`` reads from a ``json.JSONDecoder`` (its defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


def _unserializable(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _accelerated() -> tuple[Callable[[str, int], tuple[Any, int]], Callable[[], Any]] | None:
    """The accelerator's scanner, and a maker of its encoder; ``None`` where there is none."""
    try:
        import _json  # noqa: PLC0415

        def encoder() -> Any:
            # One per document, as json makes it: the markers that detect a cycle
            # keep stale entries when encoding fails midway.
            return _json.make_encoder(
                {},
                _unserializable,
                _json.encode_basestring_ascii,
                None,
                ":",
                ",",
                False,
                False,
                True,
            )

        scan = _json.make_scanner(_Decoding())  # type: ignore[arg-type]
        encoder()  # the arguments are still these
    except (ImportError, AttributeError, TypeError):  # not CPython's, or not as it was
        return None
    return scan, encoder


_CODEC = _accelerated()


def loads(data: bytes | str) -> Any:
    """The value of a JSON document (UTF-8 bytes or text), as ``json.loads`` reads it."""
    text = data.decode() if isinstance(data, bytes) else data
    if _CODEC is not None:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = _CODEC[0](text, start)
        except (StopIteration, ValueError, SystemError):
            # json says what is wrong, below. (The accelerator reports a malformed
            # document with json.decoder's error class, which it expects imported:
            # where json is not, it fails with a SystemError.)
            pass
        else:
            if end == len(text.rstrip(_WHITESPACE)):
                return value
    import json  # noqa: PLC0415

    return json.loads(text)


def dumps(value: Any) -> str:
    """``value`` as compact JSON (``json.dumps(value, separators=(",", ":"))``)."""
    if _CODEC is not None:
        return "".join(_CODEC[1]()(value, 0))
    import json  # noqa: PLC0415

    return json.dumps(value, separators=(",", ":"))


def pretty(value: Any) -> str:
    """``value`` as JSON indented by two, for people (``evd show --json``)."""
    import json  # noqa: PLC0415 - the C encoder does not indent

    return json.dumps(value, indent=2)
