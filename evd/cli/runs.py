"""``evd run | ps | show | logs | wait | cancel | result | prune``.

The commands people type most, so they run on the transport with the API's
JSON as plain dicts (``evd.cli.output`` prints those): no wire models, whose
dataclasses cost more to build than the call to the daemon takes.
"""

from __future__ import annotations

import os
import sys

from evd.cli import groups
from evd.cli.argsplit import aim, split_run_argv
from evd.cli.commands import help_of
from evd.cli.output import details, exit_status, summary, table
from evd.cli.say import error
from evd.cli.spec import Args, Command, Option, Positional
from evd.cli.types import duration, label, refused, size
from evd.errors import DaemonNotRunning, DaemonUnavailable, EvdError
from evd.jsonwire import pretty
from evd.models.statenames import ACTIVE_STATE_NAMES, FINAL_STATE_NAMES
from evd.transport import Transport, passable_environment

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from typing import Any

    from evd.cli.progressline import ProgressLine


def run_ids(text: str) -> list[int]:
    """``12`` or ``12,14``: ids of runs (for ``--after``)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        refused(f"expected run ids such as 12 or 12,14, not {text!r}")
    return [int(part) for part in parts]


RUN = Command(
    "run",
    Option("--name", help="the run's name (default: the file's or program's name)"),
    Option("--timeout", convert=duration, help="stop the job after this long (30m, 2h)"),
    Option("--priority", convert=int, help="higher starts first (default 0)"),
    Option("--env", metavar="NAME|FILE", help="run in this environment (envs/NAME.toml or a path)"),
    Option("--cpus", convert=float, help="CPUs it needs, may be fractional (default 1)"),
    Option("--memory", convert=size, help="memory to reserve (4GiB; default none)"),
    Option("--gpus", convert=float, help="whole GPUs, or a fraction (0.5) sharing one (default 0)"),
    Option("--gpu-memory", convert=size, help="GPU memory per device (10GiB)"),
    Option("--disk", convert=size, help="disk for its folder: waits for the room, stopped over it"),
    Option(
        "--retries",
        convert=int,
        help="attempts to add after a failed one, with backoff (default 0)",
    ),
    Option(
        "--restart",
        choices=("no", "on-failure", "always"),
        help="keep a service running: start it again (with backoff) until `evd cancel`",
    ),
    Option(
        "--after",
        kind="append",
        convert=run_ids,
        metavar="ID",
        help="start only after run ID succeeded (repeat, or 12,14); fails if it does not",
    ),
    Option(
        "--queue-timeout",
        convert=duration,
        help="give up (timed_out) if the job has not started this long after submit",
    ),
    Option(
        "--keep-children",
        kind="flag",
        default=None,
        help="leave processes the job starts and leaves running (default: evd stops them)",
    ),
    Option(
        "--preemptible",
        kind="flag",
        default=None,
        help="may be stopped (and queued again) for a run of higher priority",
    ),
    Option("--label", kind="append", convert=label, metavar="KEY=VALUE", help="label the run"),
    Option("--cache", kind="flag", help="take an identical run's cached result, else run and keep"),
    Option("--no-cache", kind="flag", help="run even if the job declares cache; keep nothing"),
    Option("--refresh", kind="flag", help="run even if a result is cached, and replace it"),
    Option(
        "--cluster",
        metavar="ADDRESS",
        help="run on this Ray cluster with Daft's Ray runner (ray://HOST:10001 or HOST:6379)",
    ),
    Option(
        "--map",
        metavar="ARGS.jsonl",
        help="one run per line (a JSON array, object or value: the job's arguments), as a group",
    ),
    Option("-q", "--quiet", kind="flag", help="print only the run id (gID for --map)"),
    Option("-f", "--follow", kind="flag", help="stream the log; exit with the job's code"),
    Option("--json", kind="flag", help="print the run as JSON"),
    usage="evd run [OPTIONS] FILE.py[:FUNCTION] [ARGS...]\n"
    "       evd run [OPTIONS] -- COMMAND [ARGS...]",
    description="Submit a job. Options come before FILE or `--`; later words go to the job.",
)

# The other commands of this module, each parsed from its table (``evd.cli.spec``).
SPECS = {
    spec.name: spec
    for spec in (
        Command(
            "ps",
            Option("-a", "--all", kind="flag", help="include finished runs"),
            Option("--limit", convert=int, help="at most this many, newest first"),
            Option("-l", "--label", kind="append", convert=label, help="only runs with KEY=VALUE"),
            Option("--json", kind="flag", help="print a JSON list"),
        ),
        Command(
            "show",
            Positional("id", convert=groups.run_or_group, metavar="ID"),
            Option("--json", kind="flag", help="print JSON"),
        ),
        Command(
            "logs",
            Positional("id", convert=int),
            Option("-f", "--follow", kind="flag", help="keep printing until the run ends"),
            Option("--build", kind="flag", help="the log of building the run's environment (uv)"),
        ),
        Command(
            "wait",
            Positional("ids", convert=groups.run_or_group, many=True, metavar="ID"),
            Option("-q", "--quiet", kind="flag", help="print nothing"),
            Option("--timeout", convert=duration, help="give up after this long (exit 124)"),
        ),
        Command("result", Positional("id", convert=int)),
        Command("cancel", Positional("ids", convert=groups.run_or_group, many=True, metavar="ID")),
        Command(
            "prune",
            Option("--older-than", convert=duration, required=True, help="e.g. 30d"),
        ),
    )
}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``, ``ps``, ``show``, ``logs``, ``wait``, ``result``, ``cancel``, ``prune``."""
    for spec in (RUN, *SPECS.values()):
        spec.add_to(sub, help_of(spec.name))


def passed_environment() -> dict[str, str]:
    """The shell's environment, for a job (what is not UTF-8 is left out, with a warning)."""
    env, skipped = passable_environment()
    for key in skipped:
        error(f"not passing environment variable {key!r} to the job: it is not valid UTF-8")
    return env


def cmd_run(argv: list[str]) -> int:
    """Submit, then print the id, the run, or follow it."""
    split = split_run_argv(argv, RUN.takes_value)
    opts = RUN.parse(split.options)
    if opts is None:  # words the table leaves to argparse (help, a mistake...)
        from evd.cli.parsing import command_parser  # noqa: PLC0415

        opts = command_parser("run").parse_args(split.options, namespace=Args())
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
        "disk": opts.disk,
        "retries": opts.retries,
        "restart": opts.restart,
        "after": [run_id for ids in opts.after or [] for run_id in ids],
        "queue_timeout": opts.queue_timeout,
        "cluster": opts.cluster,
        "keep_children": opts.keep_children,
        "preemptible": opts.preemptible,
        "cache": _cache_choice(opts),
        "labels": dict(opts.label) if opts.label else None,
        "args": [],
        **aim(split, "evd run"),
    }
    body = {key: value for key, value in asked.items() if value is not None}
    with Transport() as api:
        if opts.map is not None:
            return groups.submit(api, body, opts.map, opts)
        run = api.call("POST", "/v1/runs", body)
        if run.get("group") is not None:  # a job spec's `count`: a group of runs
            return groups.report(api, api.call("GET", f"/v1/groups/{run['group']}"), opts)
        if opts.json:
            print(pretty(run))
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


def _cache_choice(opts: Args) -> str | None:
    """``use``, ``off`` or ``refresh`` from ``--cache``, ``--no-cache``, ``--refresh`` (one)."""
    given = [name for name in ("cache", "no_cache", "refresh") if getattr(opts, name)]
    if len(given) > 1:
        refused("--cache, --no-cache and --refresh: give one of them")
    choices = {"cache": "use", "no_cache": "off", "refresh": "refresh"}
    return choices[given[0]] if given else None


def _print_log(
    api: Transport,
    run_id: int,
    follow: bool,
    build: bool = False,
    bar: ProgressLine | None = None,
) -> None:
    out = sys.stdout.buffer
    for chunk in api.logs(run_id, follow=follow, build=build):
        if bar is None:
            out.write(chunk)
            out.flush()
            continue
        with bar.around_output():
            out.write(chunk)
            out.flush()


def _progress_line(api: Transport, run: dict[str, Any]) -> ProgressLine | None:
    """A progress bar under the log, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    from evd.cli.progressline import ProgressLine  # noqa: PLC0415 - threads, for a terminal only

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


def cmd_ps(args: Args) -> int:
    """List runs."""
    query = [] if args.all else [f"state={name}" for name in sorted(ACTIVE_STATE_NAMES)]
    if args.limit is not None:
        query.append(f"limit={int(args.limit)}")
    if args.label:
        from urllib.parse import quote  # noqa: PLC0415 - only when filtering by label

        query += [f"label={quote(f'{key}={value}', safe='=')}" for key, value in args.label]
    with Transport() as api:
        runs = api.call("GET", "/v1/runs" + (f"?{'&'.join(query)}" if query else ""))
        if args.json:
            print(pretty(runs))
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


def cmd_show(args: Args) -> int:
    """Show one run."""
    kind, number = args.id
    with Transport() as api:
        if kind == "group":
            groups.show(api, number, args.json)
            return 0
        run = api.call("GET", f"/v1/runs/{number}")
    print(pretty(run) if args.json else details(run))
    return 0


def cmd_logs(args: Args) -> int:
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


def cmd_wait(args: Args) -> int:
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


def cmd_result(args: Args) -> int:
    """Print a run's result as JSON."""
    with Transport() as api:
        value = api.call("GET", f"/v1/runs/{args.id}/result")["result"]
    print(pretty(value))
    return 0


def cmd_cancel(args: Args) -> int:
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


def cmd_prune(args: Args) -> int:
    """Delete old finished runs."""
    with Transport() as api:
        removed = api.call("POST", "/v1/prune", {"older_than": args.older_than})["removed"]
    print(f"removed {removed} finished run(s)")
    return 0
