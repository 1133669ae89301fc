"""Entry point of the ``evd`` command: parse, dispatch, turn errors into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from evd import __version__
from evd.cli import attach, daemon_ctl, envs, machine, runs, service, triggers
from evd.cli.output import error
from evd.errors import EvdError

Handler = Callable[[argparse.Namespace], int]

HANDLERS: dict[str, Handler] = {
    "up": daemon_ctl.cmd_up,
    "down": daemon_ctl.cmd_down,
    "daemon": daemon_ctl.cmd_daemon,
    "ps": runs.cmd_ps,
    "show": runs.cmd_show,
    "logs": runs.cmd_logs,
    "wait": runs.cmd_wait,
    "cancel": runs.cmd_cancel,
    "prune": runs.cmd_prune,
    "result": runs.cmd_result,
    "envs": envs.cmd_envs,
    "volumes": envs.cmd_volumes,
    "gpus": machine.cmd_gpus,
    "drain": machine.cmd_drain,
    "resume": machine.cmd_drain,
    "watch": triggers.cmd_watch,
    "schedule": triggers.cmd_schedule,
    "service": service.cmd_service,
    "tui": attach.cmd_tui,
}


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The top-level parser and the ``run`` parser (which sees only evd's own options)."""
    parser = argparse.ArgumentParser(
        prog="evd",
        description="evd: a job runner for one GPU workstation.",
        epilog="State lives in $EVD_HOME (default: the platform's user data dir).",
    )
    parser.add_argument("--version", action="version", version=f"evd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    daemon_ctl.add_parsers(sub)
    runs.run_parser(sub)
    runs.add_listing_parsers(sub)
    envs.add_parsers(sub)
    machine.add_parsers(sub)
    triggers.add_parsers(sub)
    service.add_parsers(sub)
    attach.add_parsers(sub)
    return parser, sub.choices["run"]


def _dispatch(
    args_in: list[str], parser: argparse.ArgumentParser, run_parser: argparse.ArgumentParser
) -> int:
    # Commands that take a job's words after a FILE see only their own options.
    if args_in and args_in[0] == "run":
        return runs.cmd_run(args_in[1:], run_parser)
    if args_in[:2] == ["schedule", "add"]:
        return triggers.cmd_schedule_add(args_in[2:], triggers.schedule_add_parser(parser))
    args = parser.parse_args(args_in)
    if args.command is None:
        parser.print_help()
        return 2
    return HANDLERS[args.command](args)


def main(argv: list[str] | None = None) -> int:
    """Run the ``evd`` command; return its exit code."""
    args_in = sys.argv[1:] if argv is None else argv
    parser, run_parser = build_parser()
    try:
        return _dispatch(args_in, parser, run_parser)
    except EvdError as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
