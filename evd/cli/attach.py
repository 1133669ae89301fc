"""``evd tui``: the terminal UI, attached to the daemon of ``$EVD_HOME``."""

from __future__ import annotations

import argparse

from evd.cli.commands import help_of


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tui``."""
    tui = sub.add_parser(
        "tui",
        help=help_of("tui"),
        description="A live terminal UI: runs, resources, environments, watches and schedules."
        " It waits for evd if it is not running yet, and reconnects if it restarts.",
    )
    tui.add_argument(
        "--light", action="store_true", help="start with the light theme (`t` switches)"
    )


def cmd_tui(args: argparse.Namespace) -> int:
    """Run the app until the person quits."""
    # Textual costs ~0.3 s to import: only `evd tui` pays it.
    from tui.app import THEMES, EvdApp  # noqa: PLC0415

    EvdApp(theme=THEMES[1] if args.light else THEMES[0]).run()
    return 0
