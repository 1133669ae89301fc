"""Entry point of the ``evd`` command: parse, dispatch, turn errors into one line.

Only the invoked command's module is imported and only its parsers are built
(every module and parser only for ``evd --help`` or a word that is no
command): an ``evd ps`` pays for ``ps``, not for 35 sub-parsers and the
modules behind them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from types import ModuleType

from evd import __version__
from evd.cli.commands import COMMANDS
from evd.cli.say import error
from evd.errors import EvdError

Handler = Callable[[argparse.Namespace], int]

# Every module that adds commands, in the order of COMMANDS.
MODULES = tuple(dict.fromkeys(module for module, _, _ in COMMANDS.values()))


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


class Formatter(argparse.HelpFormatter):
    """argparse's help layout, given the width.

    Left to find it, ``HelpFormatter`` imports ``shutil`` (with ``bz2``,
    ``lzma`` and ``fnmatch``) for every command, help or not.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        """As ``HelpFormatter`` (whose own default is the terminal's width less 2)."""
        if width is None:
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    """evd's parsers: an option is spelt out (``--nam`` is not taken for ``--name``)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        """As ``ArgumentParser``, with abbreviations off and evd's formatter."""
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"evd.cli.{name}")


def _top() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    parser = Parser(
        prog="evd",
        description="evd: a job runner for one GPU workstation.",
        epilog="State lives in $EVD_HOME (default: the platform's user data dir).",
    )
    parser.add_argument("--version", action="version", version=f"evd {__version__}")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)


def build_parser(command: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The top-level parser and the handlers of the commands it knows.

    ``command``: build only what that command needs (every command if it is
    none of evd's).
    """
    parser, sub = _top()
    owner = COMMANDS[command][0] if command in COMMANDS else None
    handlers: dict[str, Handler] = {}
    for name in (owner,) if owner else MODULES:
        module = _module(name)
        module.add_parsers(sub)
        for verb, (home, handler, _) in COMMANDS.items():
            if home == name:
                handlers[verb] = getattr(module, handler)
    return parser, handlers


def outline_parser() -> argparse.ArgumentParser:
    """The top-level parser with each command's name and help line only.

    Enough for ``evd --help``, ``--version`` and a word that is no command,
    without importing a command's module.
    """
    parser, sub = _top()
    for name, (_, _, text) in COMMANDS.items():
        sub.add_parser(name, help=text)
    return parser


def subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    """The parser of ``evd PATH...`` (``"schedule", "add"``) within ``parser``."""
    for word in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def _dispatch(args_in: list[str]) -> int:
    command = args_in[0] if args_in else None
    if command not in COMMANDS:  # help, the version, nothing, or a mistake
        outline = outline_parser()
        outline.parse_args(args_in)  # prints the help, the version or the mistake, and exits
        outline.print_help()  # nothing was asked
        return 2
    parser, handlers = build_parser(command)
    # Commands that take a job's words after a FILE see only their own options.
    if command == "run":
        return _module("runs").cmd_run(args_in[1:], subparser(parser, "run"))  # type: ignore[no-any-return]
    if args_in[:2] == ["schedule", "add"]:
        add = subparser(parser, "schedule", "add")
        return _module("triggers").cmd_schedule_add(args_in[2:], add)  # type: ignore[no-any-return]
    args = parser.parse_args(args_in)
    return handlers[args.command](args)


def main(argv: list[str] | None = None) -> int:
    """Run the ``evd`` command; return its exit code."""
    args_in = sys.argv[1:] if argv is None else argv
    try:
        return _dispatch(args_in)
    except EvdError as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
