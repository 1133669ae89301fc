"""``evd spec ID``: the job spec a run ran with, as TOML (or ``--json``).

``evd spec 12 > job.toml && evd run job.toml`` runs it again. The standard
library reads TOML but does not write it; a spec holds only strings, numbers,
booleans, lists and tables, which ``to_toml`` writes.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from evd.cli.commands import help_of
from evd.jsonwire import pretty
from evd.transport import Transport


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``spec``."""
    spec = sub.add_parser("spec", help=help_of("spec"))
    spec.add_argument("id", type=int, metavar="ID", help="the run")
    spec.add_argument("--json", action="store_true", help="print JSON instead of TOML")


def cmd_spec(args: argparse.Namespace) -> int:
    """Print the run's spec."""
    with Transport() as api:
        document = api.call("GET", f"/v1/runs/{args.id}/spec")["spec"]
    if args.json:
        print(pretty(document))
    else:
        print(f"# run {args.id}: `evd run THIS.toml` runs it again")
        print(to_toml(document), end="")
    return 0


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):  # JSON carries no NaN or infinity
        return repr(value)
    if isinstance(value, str):
        # A TOML basic string is a JSON string, except that DEL must be escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"a job spec holds no {type(value).__name__}")


def _key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else _scalar(key)


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def to_toml(document: dict[str, Any], prefix: str = "") -> str:
    """``document`` as TOML: plain keys first, then ``[tables]`` and ``[[arrays of tables]]``."""
    lines = [
        f"{_key(key)} = {_scalar(value)}"
        for key, value in document.items()
        if not isinstance(value, dict) and not _is_tables(value)
    ]
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in document.items():
        name = f"{prefix}{_key(key)}"
        if isinstance(value, dict):
            text += f"\n[{name}]\n" + to_toml(value, f"{name}.")
        elif _is_tables(value):
            for item in value:
                text += f"\n[[{name}]]\n" + to_toml(item, f"{name}.")
    return text
