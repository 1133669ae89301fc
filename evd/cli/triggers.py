"""``evd watch add|ls|rm``: runs that start without anyone typing ``evd run``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from evd.cli.types import duration, size
from evd.client import Client
from evd.models import WatchInfo, WatchRequest


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of the runs a trigger starts (as for ``evd run``)."""
    parser.add_argument("--env", metavar="NAME|FILE", help="run in this environment")
    parser.add_argument("--gpus", type=float, help="whole GPUs, or a fraction of one")
    parser.add_argument("--cpus", type=float, help="CPUs each run needs (default 1)")
    parser.add_argument("--memory", type=size, help="memory to reserve and limit (4GiB)")
    parser.add_argument("--gpu-memory", type=size, help="GPU memory per device (10GiB)")
    parser.add_argument("--priority", type=int, help="higher starts first (default 0)")
    parser.add_argument("--timeout", type=duration, help="stop each run after this long")
    parser.add_argument("--queue-timeout", type=duration, help="give up if not started by then")
    parser.add_argument("--retries", type=int, help="attempts to add after a failed one")
    parser.add_argument("--cluster", metavar="ADDRESS", help="run on this Ray cluster")


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run options given on the command line, as ``SubmitRequest`` fields."""
    given = {
        "environment": args.env,
        "gpus": args.gpus,
        "cpus": args.cpus,
        "memory": args.memory,
        "gpu_memory": args.gpu_memory,
        "priority": args.priority,
        "timeout": args.timeout,
        "queue_timeout": args.queue_timeout,
        "retries": args.retries,
        "cluster": args.cluster,
    }
    return {key: value for key, value in given.items() if value is not None}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``watch``."""
    watch = sub.add_parser("watch", help="run job files dropped into a folder")
    actions = watch.add_subparsers(dest="watch_command", metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="watch a folder: each matching file becomes a run, then moves to done/ or failed/",
    )
    add.add_argument("dir", metavar="DIR")
    add.add_argument("--pattern", default="*.py", help="file names to run (default *.py)")
    add_run_options(add)
    add.add_argument("-q", "--quiet", action="store_true", help="print only the new watch's id")
    ls = actions.add_parser("ls", help="watched folders, what they picked up, what they say")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    rm = actions.add_parser("rm", help="stop watching a folder (started runs still get filed)")
    rm.add_argument("id", type=int, metavar="ID")


def _describe(watch: WatchInfo) -> str:
    options = " ".join(f"{key}={value}" for key, value in watch.options.items())
    line = f"{watch.id}  {watch.dir}  {watch.pattern}  {watch.status}"
    line += f"  {watch.picked_up} picked up, {len(watch.running)} running"
    if options:
        line += f"  ({options})"
    if watch.note:
        line += f"\n    {watch.note}"
    return line


def cmd_watch(args: argparse.Namespace) -> int:
    """``evd watch add|ls|rm``."""
    with Client() as client:
        if args.watch_command == "add":
            request = WatchRequest(
                dir=os.path.abspath(args.dir), pattern=args.pattern, options=run_options(args)
            )
            watch = client.add_watch(request)
            if args.quiet:
                print(watch.id)
            else:
                print(f"watching {watch.dir} for {watch.pattern} (watch {watch.id})")
            return 0
        if args.watch_command == "rm":
            watch = client.remove_watch(args.id)
            print(f"stopped watching {watch.dir} (watch {watch.id})")
            return 0
        watches = client.list_watches()
    if getattr(args, "json", False):
        print(json.dumps([watch.__dict__ for watch in watches], indent=2))
    elif watches:
        print("\n".join(_describe(watch) for watch in watches))
    else:
        print("no watched folders (`evd watch add DIR` adds one)")
    return 0
