"""``evd up | down | daemon``: start, stop and run the daemon."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time

from evd.cli.commands import help_of
from evd.cli.say import error
from evd.cli.types import size
from evd.client import Client
from evd.errors import DaemonNotRunning, EvdError
from evd.paths import StateDir

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
EXIT_ALREADY_RUNNING = 3  # what `python -m evd.daemon` exits with (evd/daemon/__main__.py)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``up``, ``down`` and ``daemon``."""
    for name in ("up", "daemon"):
        parser = sub.add_parser(name, help=help_of(name))
        parser.add_argument(
            "--parallel",
            type=int,
            help="at most this many jobs run at once (default: as many as their CPU, memory"
            " and GPU requests allow)",
        )
        parser.add_argument(
            "--retry-delay",
            type=float,
            default=2.0,
            help="seconds before a job's first retry or restart, doubling after each"
            " (at most 5 min; default 2)",
        )
        parser.add_argument(
            "--sample-interval",
            type=float,
            default=1.0,
            help="seconds between samples of each job's CPU, memory and GPU use (default 1)",
        )
        parser.add_argument(
            "--log-limit",
            type=size,
            default=100 * 1024 * 1024,
            help="cap on each run's log; the middle is cut (default 100MiB)",
        )
        parser.add_argument(
            "--kill-grace",
            type=float,
            default=10.0,
            help="seconds between SIGTERM and SIGKILL when stopping a job (default 10)",
        )
        parser.add_argument(
            "--http",
            metavar="[HOST:]PORT",
            help="also serve the API on this TCP port (loopback unless HOST is given), every"
            " request with the bearer token of $EVD_HOME/http-token",
        )
        if name == "daemon":
            # `evd up` sends the daemon's stderr to evd.log already.
            parser.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)
    sub.add_parser("down", help=help_of("down"))


def daemon_argv(args: argparse.Namespace, *, foreground: bool) -> list[str] | None:
    """The daemon's own command line for these flags (``None``, said why, if one is wrong).

    The daemon is ``python -m evd.daemon OPTIONS`` with ``DaemonOptions`` as
    JSON, so the CLI never imports it.
    """
    if args.parallel is not None and args.parallel < 1:
        error("--parallel must be at least 1")
        return None
    if not args.retry_delay >= 0:
        error("--retry-delay must be 0 or more seconds")
        return None
    if not args.sample_interval >= 0.05:
        error("--sample-interval must be at least 0.05 seconds")
        return None
    options = {
        "parallel": args.parallel,
        "kill_grace": args.kill_grace,
        "log_limit": args.log_limit,
        "retry_delay": args.retry_delay,
        "sample_interval": args.sample_interval,
        "http": args.http,
        "foreground": foreground,
    }
    return [sys.executable, "-m", "evd.daemon", json.dumps(options)]


def cmd_daemon(args: argparse.Namespace) -> int:
    """Run in the foreground: check the flags, then become the daemon (same pid).

    Exits 3 if another daemon holds the state dir.
    """
    argv = daemon_argv(args, foreground=not args.detached)
    if argv is None:
        return 2
    sys.stdout.flush()
    os.execv(argv[0], argv)


def _log_tail(state: StateDir, lines: int = 15) -> str:
    try:
        return "\n".join(state.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no daemon log)"


def cmd_up(args: argparse.Namespace) -> int:
    """Start the daemon in the background and wait until it answers."""
    import subprocess  # noqa: PLC0415 - only `up` spawns; keep it off other commands' start-up

    state = StateDir.from_env()
    client = Client(state)
    try:
        health = client.health(timeout=2)
        print(f"evd is already running (pid {health.pid}) in {state.root}")
        return 0
    except DaemonNotRunning:
        pass
    state.ensure()
    argv = daemon_argv(args, foreground=False)
    if argv is None:
        return 2
    descriptor = os.open(state.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(descriptor, 0o600)  # a log from before evd kept files private
    with open(descriptor, "ab") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        code = process.poll()
        try:
            health = client.health(timeout=2)
        except EvdError:
            if code is not None:
                if code == EXIT_ALREADY_RUNNING:
                    continue  # another `evd up` won the race; its daemon will answer
                error(f"the daemon exited with code {code} while starting; its log says:")
                print(_log_tail(state), file=sys.stderr)
                return 1
            time.sleep(0.01)
            continue
        print(f"evd is up (pid {health.pid}) in {state.root}")
        if health.http:
            print(f"HTTP trigger on {health.http} (bearer token in {state.root / 'http-token'})")
        return 0
    error(f"the daemon did not answer within {START_TIMEOUT:.0f} s; see {state.log_file}")
    return 1


def _daemon_holds_lock(state: StateDir) -> bool:
    """Whether a daemon still holds the state dir's lock.

    The kernel drops the lock the moment the daemon exits, while its pid can
    linger as a zombie until something reaps it: the lock is the true signal.
    """
    try:
        fd = os.open(state.pid_file, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def cmd_down(_args: argparse.Namespace) -> int:
    """Ask the daemon to stop, and wait until it has."""
    state = StateDir.from_env()
    with Client(state) as client:
        try:
            pid = client.health(timeout=5).pid
            client.shutdown()
        except DaemonNotRunning:
            print("evd is not running")
            return 0
    deadline = time.monotonic() + STOP_TIMEOUT
    while _daemon_holds_lock(state):
        if time.monotonic() > deadline:
            error(f"the daemon (pid {pid}) has not stopped after {STOP_TIMEOUT:.0f} s")
            return 1
        time.sleep(0.02)
    print("evd is down (running jobs carry on; `evd up` re-adopts them)")
    return 0
