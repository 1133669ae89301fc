"""``evd run | ps | show | logs | wait | cancel | result | prune``.

The commands people type most, so they run on the transport with the API's
JSON as plain dicts (``evd.cli.output`` prints those): no wire models, whose
dataclasses cost more to build than the call to the daemon takes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from evd.cli import groups
from evd.cli.argsplit import aim, options_taking_values, split_run_argv
from evd.cli.commands import help_of
from evd.cli.output import details, exit_status, summary, table
from evd.cli.progressline import ProgressLine
from evd.cli.say import error
from evd.cli.types import duration, size
from evd.errors import DaemonNotRunning, DaemonUnavailable, EvdError
from evd.models.states import ACTIVE_STATE_NAMES, FINAL_STATE_NAMES
from evd.transport import Transport, passable_environment

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


def run_ids(text: str) -> list[int]:
    """``12`` or ``12,14``: ids of runs (for ``--after``)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"expected run ids such as 12 or 12,14, not {text!r}")
    return [int(part) for part in parts]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``, ``ps``, ``show``, ``logs``, ``wait``, ``result``, ``cancel``, ``prune``."""
    _run_parser(sub)
    _listing_parsers(sub)


def _run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help=help_of("run"),
        usage="evd run [OPTIONS] FILE.py[:FUNCTION] [ARGS...]\n"
        "       evd run [OPTIONS] -- COMMAND [ARGS...]",
        description="Submit a job. Options come before FILE or `--`; later words go to the job.",
    )
    parser.add_argument("--name", help="the run's name (default: the file's or program's name)")
    parser.add_argument("--timeout", type=duration, help="stop the job after this long (30m, 2h)")
    parser.add_argument("--priority", type=int, help="higher starts first (default 0)")
    parser.add_argument(
        "--env", metavar="NAME|FILE", help="run in this environment (envs/NAME.toml or a path)"
    )
    parser.add_argument("--cpus", type=float, help="CPUs it needs, may be fractional (default 1)")
    parser.add_argument("--memory", type=size, help="memory to reserve (4GiB; default none)")
    parser.add_argument(
        "--gpus", type=float, help="whole GPUs, or a fraction (0.5) sharing one (default 0)"
    )
    parser.add_argument("--gpu-memory", type=size, help="GPU memory per device (10GiB)")
    parser.add_argument(
        "--retries", type=int, help="attempts to add after a failed one, with backoff (default 0)"
    )
    parser.add_argument(
        "--restart",
        choices=("no", "on-failure", "always"),
        help="keep a service running: start it again (with backoff) until `evd cancel`",
    )
    parser.add_argument(
        "--after",
        type=run_ids,
        action="append",
        metavar="ID",
        help="start only after run ID succeeded (repeat, or 12,14); fails if it does not",
    )
    parser.add_argument(
        "--queue-timeout",
        type=duration,
        help="give up (timed_out) if the job has not started this long after submit",
    )
    parser.add_argument(
        "--keep-children",
        action="store_true",
        default=None,
        help="leave processes the job starts and leaves running (default: evd stops them)",
    )
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run on this Ray cluster with Daft's Ray runner (ray://HOST:10001 or HOST:6379)",
    )
    parser.add_argument(
        "--map",
        metavar="ARGS.jsonl",
        help="one run per line (a JSON array, object or value: the job's arguments), as a group",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only the run id (gID for --map)"
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="stream the log; exit with the job's code"
    )
    parser.add_argument("--json", action="store_true", help="print the run as JSON")


def passed_environment() -> dict[str, str]:
    """The shell's environment, for a job (what is not UTF-8 is left out, with a warning)."""
    env, skipped = passable_environment()
    for key in skipped:
        error(f"not passing environment variable {key!r} to the job: it is not valid UTF-8")
    return env


def cmd_run(argv: list[str], parser: argparse.ArgumentParser) -> int:
    """Submit, then print the id, the run, or follow it."""
    split = split_run_argv(argv, options_taking_values(parser))
    opts = parser.parse_args(split.options)
    asked = {
        "name": opts.name,
        "cwd": os.getcwd(),
        "env": passed_environment(),
        "timeout": opts.timeout,
        "priority": opts.priority,
        "environment": opts.env,
        "cpus": opts.cpus,
        "memory": opts.memory,
        "gpus": opts.gpus,
        "gpu_memory": opts.gpu_memory,
        "retries": opts.retries,
        "restart": opts.restart,
        "after": [run_id for ids in opts.after or [] for run_id in ids],
        "queue_timeout": opts.queue_timeout,
        "cluster": opts.cluster,
        "keep_children": opts.keep_children,
        "args": [],
        **aim(split, "evd run"),
    }
    body = {key: value for key, value in asked.items() if value is not None}
    with Transport() as api:
        if opts.map is not None:
            return groups.submit(api, body, opts.map, opts)
        run = api.call("POST", "/v1/runs", body)
        if opts.json:
            print(json.dumps(run, indent=2))
        elif opts.quiet:
            print(run["id"])
        elif not opts.follow:
            print(f"submitted run {run['id']} ({run['name']}): {run['state']}")
        if run["state"] == "failed" and not opts.quiet and not opts.json:
            # It failed before it could start (a mistake in the file, a missing
            # program): say so now. With -q/--json the caller asks `evd wait`.
            error(summary(run))
            return exit_status(run)
        if opts.follow:
            return _follow(api, run)
    return 0


def _print_log(
    api: Transport,
    run_id: int,
    follow: bool,
    build: bool = False,
    bar: ProgressLine | None = None,
) -> None:
    out = sys.stdout.buffer
    for chunk in api.logs(run_id, follow=follow, build=build):
        with bar.around_output() if bar else contextlib.nullcontext():
            out.write(chunk)
            out.flush()


def _progress_line(api: Transport, run: dict[str, Any]) -> ProgressLine | None:
    """A progress bar under the log, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def events() -> Iterator[dict[str, Any]]:
        with Transport(api.socket, timeout=None) as own:  # its own connection
            yield from own.events(progress=True)

    bar = ProgressLine(run["id"], events)
    bar.start()
    return bar


def _follow(api: Transport, run: dict[str, Any]) -> int:
    run_id = run["id"]
    if run["state"] == "building":
        error(f"run {run_id}: {run['reason']} (`evd logs {run_id} --build -f` shows uv's output)")
    bar = _progress_line(api, run)
    try:
        _print_log(api, run_id, follow=True, bar=bar)
        if bar is not None:
            bar.show("")
        final = api.wait_json(run_id)
    except KeyboardInterrupt:
        error(
            f"stopped following; run {run_id} goes on (`evd logs {run_id} -f` to follow it again)"
        )
        return 130
    if final.get("started_at") is None and final["state"] == "failed":
        # The log just printed ends with the reason: say only that it never ran.
        error(f"run {run_id} ({final['name']}) failed before it started")
    elif final["state"] != "succeeded":
        error(summary(final))
    return exit_status(final)


def _listing_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ps = sub.add_parser("ps", help=help_of("ps"))
    ps.add_argument("-a", "--all", action="store_true", help="include finished runs")
    ps.add_argument("--limit", type=int, help="at most this many, newest first")
    ps.add_argument("--json", action="store_true", help="print a JSON list")
    show = sub.add_parser("show", help=help_of("show"))
    show.add_argument("id", type=groups.run_or_group, metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    logs = sub.add_parser("logs", help=help_of("logs"))
    logs.add_argument("id", type=int)
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the run ends"
    )
    logs.add_argument(
        "--build", action="store_true", help="the log of building the run's environment (uv)"
    )
    wait = sub.add_parser("wait", help=help_of("wait"))
    wait.add_argument("ids", type=groups.run_or_group, nargs="+", metavar="ID")
    wait.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    wait.add_argument("--timeout", type=duration, help="give up after this long (exit 124)")
    result = sub.add_parser("result", help=help_of("result"))
    result.add_argument("id", type=int)
    cancel = sub.add_parser("cancel", help=help_of("cancel"))
    cancel.add_argument("ids", type=groups.run_or_group, nargs="+", metavar="ID")
    prune = sub.add_parser("prune", help=help_of("prune"))
    prune.add_argument("--older-than", type=duration, required=True, help="e.g. 30d")


def cmd_ps(args: argparse.Namespace) -> int:
    """List runs."""
    query = [] if args.all else [f"state={name}" for name in sorted(ACTIVE_STATE_NAMES)]
    if args.limit is not None:
        query.append(f"limit={int(args.limit)}")
    with Transport() as api:
        runs = api.call("GET", "/v1/runs" + (f"?{'&'.join(query)}" if query else ""))
        if args.json:
            print(json.dumps(runs, indent=2))
            return 0
        fanouts = groups.listed(api, active=not args.all, limit=args.limit)
    if runs:
        print(table(runs))
    else:
        print("no runs" if args.all else "no active runs (`evd ps --all` shows finished ones)")
    if fanouts:
        print()
        print(groups.listing(fanouts))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Show one run."""
    kind, number = args.id
    with Transport() as api:
        if kind == "group":
            groups.show(api, number, args.json)
            return 0
        run = api.call("GET", f"/v1/runs/{number}")
    print(json.dumps(run, indent=2) if args.json else details(run))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    """Print (or follow) a run's log."""
    with Transport() as api:
        try:
            _print_log(api, args.id, args.follow, args.build)
        except KeyboardInterrupt:
            return 130
        if args.follow and not args.build and not _ended(api, args.id):
            # A follow stream ends early only when the daemon stops: say so.
            error(
                f"evd stopped while following run {args.id}; the job carries on"
                f" (`evd up`, then `evd logs {args.id} -f`)"
            )
            return 1
    return 0


def _ended(api: Transport, run_id: int) -> bool:
    try:
        return api.call("GET", f"/v1/runs/{run_id}")["state"] in FINAL_STATE_NAMES
    except (DaemonNotRunning, DaemonUnavailable):
        return False


def cmd_wait(args: argparse.Namespace) -> int:
    """Wait for every run; exit with the last one's exit code."""
    code = 0
    with Transport() as api:
        for kind, run_id in args.ids:
            if kind == "group":
                status = groups.wait(api, run_id, args.timeout, args.quiet)
                if status is None:
                    return 124
                code = status
                continue
            run = api.wait_json(run_id, timeout=args.timeout)
            if run["state"] not in FINAL_STATE_NAMES:
                error(f"run {run_id} is still {run['state']} after the --timeout")
                return 124
            if not args.quiet:
                print(summary(run))
            code = exit_status(run)
    return code


def cmd_result(args: argparse.Namespace) -> int:
    """Print a run's result as JSON."""
    with Transport() as api:
        value = api.call("GET", f"/v1/runs/{args.id}/result")["result"]
    print(json.dumps(value, indent=2))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel each run; report each; non-zero if any could not be cancelled."""
    failures = 0
    with Transport() as api:
        for kind, run_id in args.ids:
            try:
                if kind == "group":
                    groups.cancel(api, run_id)
                    continue
                run = api.call("POST", f"/v1/runs/{run_id}/cancel")
                if run["state"] not in FINAL_STATE_NAMES:
                    name = run["name"]
                    print(f"run {run_id} ({name}): stopping (SIGTERM sent to its process group)")
                    run = api.wait_json(run_id, timeout=60)
                print(summary(run))
            except EvdError as exc:
                error(str(exc))
                failures += 1
    return 1 if failures else 0


def cmd_prune(args: argparse.Namespace) -> int:
    """Delete old finished runs."""
    with Transport() as api:
        removed = api.call("POST", "/v1/prune", {"older_than": args.older_than})["removed"]
    print(f"removed {removed} finished run(s)")
    return 0
