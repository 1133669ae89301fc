"""evd's commands: the module of ``evd.cli`` that adds and handles each, and its help line.

One table, in the order ``evd --help`` lists them: ``main`` imports only the
invoked command's module (for ``evd --help``, none: the help is made from
here, with the description, the epilog and the terminal's width), and each
module takes its help line from here.
"""

from __future__ import annotations

import os
import sys

DESCRIPTION = "evd: a job runner for one GPU workstation."
EPILOG = "State lives in $EVD_HOME (default: the platform's user data dir)."

# command -> (module of evd.cli, its handler there, the line `evd --help` shows)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": (
        "daemon_ctl",
        "cmd_up",
        "start the daemon in the background (returns when it answers)",
    ),
    "daemon": (
        "daemon_ctl",
        "cmd_daemon",
        "run the daemon in the foreground",
    ),
    "down": (
        "daemon_ctl",
        "cmd_down",
        "stop the daemon; running jobs carry on and are re-adopted by `evd up`",
    ),
    "run": (
        "runs",
        "cmd_run",
        "submit a job file or a command",
    ),
    "ps": (
        "runs",
        "cmd_ps",
        "list runs (active ones; --all for every run)",
    ),
    "show": (
        "runs",
        "cmd_show",
        "show one run and its history (gID: a group)",
    ),
    "logs": (
        "runs",
        "cmd_logs",
        "print a run's output (stdout and stderr)",
    ),
    "wait": (
        "runs",
        "cmd_wait",
        "wait for runs (or gID groups) to end; exit with the last one's code",
    ),
    "result": (
        "runs",
        "cmd_result",
        "print the value a run's main returned, as JSON",
    ),
    "cancel": (
        "runs",
        "cmd_cancel",
        "cancel queued or running runs (gID: a whole group)",
    ),
    "prune": (
        "runs",
        "cmd_prune",
        "delete finished runs and their folders",
    ),
    "spec": (
        "jobspec",
        "cmd_spec",
        "print the job spec a run ran with (TOML): `evd run SPEC.toml` runs it again",
    ),
    "envs": (
        "envs",
        "cmd_envs",
        "list, build or prune job environments",
    ),
    "volumes": (
        "envs",
        "cmd_volumes",
        "named data folders jobs ask for",
    ),
    "cache": (
        "cache",
        "cmd_cache",
        "the result cache: list, forget or prune cached results",
    ),
    "gpus": (
        "machine",
        "cmd_gpus",
        "the machine's GPUs, their memory and who uses them",
    ),
    "workers": (
        "machine",
        "cmd_workers",
        "warm workers: the processes serving reusable jobs, and what they hold",
    ),
    "drain": (
        "machine",
        "cmd_drain",
        "start nothing new (running runs finish) until `evd resume`",
    ),
    "resume": (
        "machine",
        "cmd_drain",
        "start queued runs again after `evd drain`",
    ),
    "timeline": (
        "timeline",
        "cmd_timeline",
        "who held each GPU over the last hours, and the planned starts ahead",
    ),
    "watch": (
        "triggers",
        "cmd_watch",
        "run job files dropped into a folder",
    ),
    "schedule": (
        "triggers",
        "cmd_schedule",
        "run a job file on a cron expression or interval",
    ),
    "service": (
        "service",
        "cmd_service",
        "start the daemon at login (a systemd user unit)",
    ),
    "tui": (
        "attach",
        "cmd_tui",
        "watch, inspect, cancel and submit runs in a terminal UI",
    ),
    "completion": (
        "completion",
        "cmd_completion",
        "print a shell completion script (bash, zsh, fish)",
    ),
}


def help_of(command: str) -> str:
    """The help line of ``command``."""
    return COMMANDS[command][2]


def terminal_columns() -> int:
    """The terminal's width, found as ``shutil.get_terminal_size`` finds it."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or 80
