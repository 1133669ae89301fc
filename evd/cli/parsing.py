"""evd's argparse parsers: the full tree, the outline, and one command's parser.

Imported when a command's words need argparse: its help, a mistake to
explain, a command without an option table, or words the table leaves to it
(see ``evd.cli.spec``). Only the invoked command's module is imported and only
its parsers are built (every module only for a word that is no command).
"""

from __future__ import annotations

import argparse
import importlib

from evd import __version__
from evd.cli.commands import COMMANDS, DESCRIPTION, EPILOG, terminal_columns

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Handler = Callable[[Any], int]

# Every module that adds commands, in the order of COMMANDS.
MODULES = tuple(dict.fromkeys(module for module, _, _ in COMMANDS.values()))


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


def _top() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    parser = Parser(prog="evd", description=DESCRIPTION, epilog=EPILOG)
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
        module = importlib.import_module(f"evd.cli.{name}")
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


def command_parser(*path: str) -> argparse.ArgumentParser:
    """The parser of ``evd PATH...`` alone, as a command's words are parsed by it."""
    return subparser(build_parser(path[0])[0], *path)


def parse_words(words: list[str]) -> tuple[Any, Handler]:
    """``evd WORDS...`` parsed by argparse (which exits on help or a mistake), and its handler."""
    parser, handlers = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
    return args, handlers[args.command]
