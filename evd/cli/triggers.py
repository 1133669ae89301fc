"""``evd watch`` and ``evd schedule``: runs that start without anyone typing ``evd run``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from evd.cli.argsplit import aim, options_taking_values, split_run_argv
from evd.cli.commands import help_of
from evd.cli.parsing import command_parser
from evd.cli.runs import passed_environment
from evd.cli.types import duration, size
from evd.client import Client
from evd.models import ScheduleInfo, ScheduleRequest, SubmitRequest, WatchInfo, WatchRequest


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
    """Add ``watch`` and ``schedule``."""
    _add_watch(sub)
    _add_schedule(sub)


def _add_watch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    watch = sub.add_parser("watch", help=help_of("watch"))
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
                dir=os.path.abspath(args.dir),
                pattern=args.pattern,
                options=run_options(args),
                env=passed_environment(),  # its runs get this shell's, as `evd run`'s do
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


def _add_schedule(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedule = sub.add_parser("schedule", help=help_of("schedule"))
    actions = schedule.add_subparsers(dest="schedule_command", metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="submit FILE (or -- COMMAND) on a schedule",
        usage="evd schedule add [--cron EXPR | --every 10s] [OPTIONS] FILE.py[:FUNCTION] [ARGS...]"
        "\n       evd schedule add [--cron EXPR | --every 10s] [OPTIONS] -- COMMAND [ARGS...]",
        description="Without --cron or --every, the file's own schedule is used"
        " (Job(..., schedule='0 * * * *') or [tool.evd] schedule).",
    )
    when = add.add_mutually_exclusive_group()
    when.add_argument("--cron", metavar="EXPR", help="a cron expression ('0 * * * *', @daily)")
    when.add_argument("--every", metavar="DURATION", help="an interval (10s, 15m, 2h)")
    add.add_argument(
        "--overlap",
        choices=("skip", "queue"),
        default="skip",
        help="a fire while the last run still goes: skip it (default) or queue one run",
    )
    add.add_argument(
        "--misfire-grace",
        type=duration,
        default=3600.0,
        help="fires missed while evd was down run once if within this (default 1h), else skip",
    )
    add.add_argument("--name", help="the runs' name (default: the file's or program's)")
    add_run_options(add)
    add.add_argument("-q", "--quiet", action="store_true", help="print only the new schedule's id")
    ls = actions.add_parser("ls", help="schedules, their next fire time and last run")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    for action, text in (
        ("rm", "delete a schedule (its runs stay)"),
        ("pause", "stop firing (missed fires are not made up)"),
        ("resume", "fire again, from the next fire time"),
    ):
        actions.add_parser(action, help=text).add_argument("id", type=int, metavar="ID")


def cmd_schedule_add(argv: list[str]) -> int:
    """``evd schedule add ... FILE [ARGS]`` or ``... -- COMMAND``."""
    parser = command_parser("schedule", "add")
    split = split_run_argv(argv, options_taking_values(parser))
    opts = parser.parse_args(split.options)
    run = SubmitRequest(
        cwd=os.getcwd(),
        name=opts.name,
        env=passed_environment(),
        **run_options(opts),
        **aim(split, "evd schedule add"),
    )
    spec = opts.cron or (f"every {opts.every}" if opts.every else None)
    request = ScheduleRequest(
        run=run, spec=spec, overlap=opts.overlap, misfire_grace=opts.misfire_grace
    )
    with Client() as client:
        schedule = client.add_schedule(request)
    if opts.quiet:
        print(schedule.id)
    else:
        print(
            f"schedule {schedule.id}: {schedule.what} {schedule.spec};"
            f" next fire {schedule.next_fire_at}"
        )
    return 0


def _describe_schedule(schedule: ScheduleInfo) -> str:
    state = "paused" if schedule.paused else f"next {schedule.next_fire_at}"
    last = "never fired"
    if schedule.last_run_id is not None:
        last = f"last run {schedule.last_run_id} ({schedule.last_run_state})"
    line = f"{schedule.id}  {schedule.spec}  {schedule.what}  {state}  {last}"
    line += f"  fires {schedule.fires}, overlap {schedule.overlap}"
    if schedule.note:
        line += f"\n    {schedule.note}"
    return line


def cmd_schedule(args: argparse.Namespace) -> int:
    """``evd schedule ls|rm|pause|resume``."""
    with Client() as client:
        if args.schedule_command == "rm":
            gone = client.remove_schedule(args.id)
            print(f"removed schedule {gone.id} ({gone.what} {gone.spec})")
            return 0
        if args.schedule_command in ("pause", "resume"):
            changed = client.pause_schedule(args.id, args.schedule_command == "pause")
            print(_describe_schedule(changed))
            return 0
        schedules = client.list_schedules()
    if getattr(args, "json", False):
        print(json.dumps([schedule.__dict__ for schedule in schedules], indent=2))
    elif schedules:
        print("\n".join(_describe_schedule(schedule) for schedule in schedules))
    else:
        print("no schedules (`evd schedule add --every 1h FILE.py` adds one)")
    return 0
