"""``evd service install``: start the daemon at login with a systemd user unit."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evd.cli.commands import help_of
from evd.cli.say import error
from evd.paths import StateDir

if TYPE_CHECKING:
    import subprocess

UNIT_NAME = "evd.service"


def unit_text(python: str, home: Path, path_variable: str) -> str:
    """The unit: ``evd daemon`` in the foreground, restarted if it fails.

    ``KillMode=process``: stopping the service stops the daemon only. Jobs run
    on under their shims (as with ``evd down``) and the next start re-adopts
    them; systemd's default would kill every job in the unit's cgroup.
    """
    return (
        "[Unit]\n"
        "Description=evd job runner daemon\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"Environment=EVD_HOME={home}\n"
        f"Environment=PATH={path_variable}\n"
        f"ExecStart={python} -m evd daemon\n"
        f"ExecStop={python} -m evd down\n"
        "KillMode=process\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def unit_path() -> Path:
    """Where systemd looks for the user's own units."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user" / UNIT_NAME


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``service``."""
    service = sub.add_parser("service", help=help_of("service"))
    actions = service.add_subparsers(dest="service_command", metavar="ACTION")
    install = actions.add_parser("install", help="write and enable the systemd user unit")
    install.add_argument(
        "--print", action="store_true", help="print the unit instead of installing it"
    )


def _systemctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    import shutil  # noqa: PLC0415 - only `service install` needs these; keep them off `evd run`
    import subprocess  # noqa: PLC0415

    program = shutil.which("systemctl")
    if program is None:
        return None
    return subprocess.run(
        [program, "--user", *args], capture_output=True, text=True, timeout=30, check=False
    )


def _no_user_manager(stderr: str) -> bool:
    """Whether systemctl says there is no user manager to talk to (containers, no login)."""
    text = stderr.lower()
    return "failed to connect to bus" in text or "not been booted" in text


def cmd_service(args: argparse.Namespace) -> int:
    """``evd service install [--print]``."""
    if args.service_command != "install":
        error("usage: evd service install [--print]")
        return 2
    text = unit_text(sys.executable, StateDir.from_env().root, os.environ.get("PATH", os.defpath))
    if args.print:
        print(text, end="")
        return 0
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    for step in (("daemon-reload",), ("enable", "--now", UNIT_NAME)):
        done = _systemctl(*step)
        if done is None or _no_user_manager(done.stderr):
            error(
                "systemd's user manager is not available here, so the unit is not enabled;"
                " start evd with `evd up` (for example from your shell's profile)"
            )
            return 1
        if done.returncode != 0:
            error(f"systemctl --user {' '.join(step)} failed: {done.stderr.strip()}")
            return 1
    print(
        f"enabled {UNIT_NAME}: evd starts at login (`loginctl enable-linger` starts it at boot);"
        " `systemctl --user status evd` shows it"
    )
    return 0
