"""``evd cache ls|rm KEY|prune``: the results evd keeps for jobs that declare ``cache``."""

from __future__ import annotations

import argparse
import json

from evd.cli.commands import help_of
from evd.cli.types import duration
from evd.client import Client
from evd.describe import ago
from evd.errors import InvalidRequest, NotFound
from evd.models import CachedResult

SHORT_KEY = 12  # how much of a key `evd cache ls` shows; `rm` takes any unambiguous prefix


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cache``."""
    cache = sub.add_parser("cache", help=help_of("cache"))
    actions = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    ls = actions.add_parser("ls", help="cached results: key, run, hits, last use")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    rm = actions.add_parser("rm", help="forget a cached result (the next identical run runs)")
    rm.add_argument("key", metavar="KEY", help="a key, or a prefix that names one entry")
    prune = actions.add_parser("prune", help="forget cached results")
    prune.add_argument(
        "--older-than",
        type=duration,
        default=0.0,
        help="only those made and unused this long (e.g. 7d; default: all)",
    )


def _table(entries: list[CachedResult]) -> str:
    rows = [("KEY", "RUN", "NAME", "HITS", "MADE", "LAST HIT")]
    for entry in entries:
        rows.append(
            (
                entry.key[:SHORT_KEY],
                str(entry.run_id),
                entry.name,
                str(entry.hits),
                ago(entry.created_at),
                ago(entry.last_hit_at) if entry.last_hit_at else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    )


def _one_key(entries: list[CachedResult], prefix: str) -> str:
    """The full key ``prefix`` names among ``entries``."""
    keys = [entry.key for entry in entries if entry.key.startswith(prefix.lower())]
    if not keys:
        raise NotFound(f"no cached result with key {prefix!r}; `evd cache ls` lists them")
    if len(keys) > 1:
        raise InvalidRequest(f"{prefix!r} names {len(keys)} cached results; give more of the key")
    return keys[0]


def cmd_cache(args: argparse.Namespace) -> int:
    """List, forget or prune cached results."""
    action = args.cache_command or "ls"
    with Client() as client:
        if action == "ls":
            entries = client.list_cached()
            if getattr(args, "json", False):
                print(json.dumps([entry.__dict__ for entry in entries], indent=2))
            else:
                print(_table(entries) if entries else "no cached results")
        elif action == "rm":
            key = _one_key(client.list_cached(), args.key)
            client.forget_cached(key)
            print(f"forgot cached result {key[:SHORT_KEY]}")
        else:
            removed = client.prune_cache(args.older_than)
            print(f"forgot {removed} cached result(s)")
    return 0
