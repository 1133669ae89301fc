"""Entry point of the ``evd`` command: parse, dispatch, turn errors into one line.

An ``evd ps`` pays for ``ps`` alone: only the invoked command's module is
imported, and a command with an option table (``evd.cli.spec``) reads plain
words without argparse. argparse (``evd.cli.parsing``) is imported for the
rest: help, mistakes, commands without a table. ``evd --help`` is laid out
here as argparse lays it out, wrapped as it wraps (else argparse writes it).
"""

from __future__ import annotations

import sys

from evd import __version__
from evd.cli.commands import COMMANDS, DESCRIPTION, EPILOG, terminal_columns
from evd.cli.say import error
from evd.errors import EvdError

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from typing import Any

USAGE = "usage: evd [-h] [--version] COMMAND ..."
_TOP_OPTIONS = (
    ("-h, --help", "show this help message and exit"),
    ("--version", "show program's version number and exit"),
)


def _wrapped(text: str, width: int) -> list[str] | None:
    """``text`` in lines of at most ``width``, as ``textwrap.wrap`` breaks single-spaced text.

    ``None`` where textwrap would break otherwise: inside a hyphenated word
    that does not fit, or a word longer than a line.
    """
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) <= width:
            line += " " + word
            continue
        if len(word) > width or (line and "-" in word):
            return None
        if line:
            lines.append(line)
        line = word
    return [*lines, line]


def outline_help(columns: int) -> str | None:
    """``evd --help`` as argparse writes it ``columns`` wide, or ``None`` to leave it to argparse.

    argparse's layout (``HelpFormatter``, width ``columns - 2``): the longest
    invocation decides where the help column starts; a name too long for it
    gets a line of its own; help wraps as ``textwrap`` wraps it. A usage line
    too long, or text ``_wrapped`` cannot break as textwrap would, is left to
    argparse (``tests/unit/test_cli_docs.py`` compares the two at every width).
    """
    width = columns - 2
    longest = max(len(word) for word in [*COMMANDS, "COMMAND", *(o for o, _ in _TOP_OPTIONS)])
    help_position = min(longest + 4, 24, max(width - 20, 4))
    help_width = max(width - help_position, 11)
    helps = [text for _, _, text in COMMANDS.values()] + [text for _, text in _TOP_OPTIONS]
    description = _wrapped(DESCRIPTION, max(width, 11))
    epilog = _wrapped(EPILOG, max(width, 11))
    if description is None or epilog is None or len(USAGE) > width:
        return None
    if any("%" in text or "  " in text for text in helps):  # argparse would rewrite them
        return None
    lines = [USAGE, "", *description, "", "positional arguments:", "  COMMAND"]
    items = [(4, name, text) for name, (_, _, text) in COMMANDS.items()]
    items += [(2, invocation, text) for invocation, text in _TOP_OPTIONS]
    for indent, invocation, text in items:
        wrapped = _wrapped(text, help_width)
        if wrapped is None:
            return None
        room = help_position - indent - 2
        if len(invocation) <= room:
            first = f"{'':{indent}}{invocation:{room}}  {wrapped[0]}"
        else:
            first = f"{'':{indent}}{invocation}\n{'':{help_position}}{wrapped[0]}"
        if invocation == _TOP_OPTIONS[0][0]:
            lines += ["", "options:"]
        lines += [first, *(f"{'':{help_position}}{line}" for line in wrapped[1:])]
    return "\n".join([*lines, "", *epilog, ""])


def _module(name: str) -> Any:
    # __import__, not importlib.import_module: importlib imports warnings (~1 ms a command).
    __import__(f"evd.cli.{name}")
    return sys.modules[f"evd.cli.{name}"]


def _outline(args_in: list[str]) -> int:
    """``evd``, ``evd --help``, ``--version``, or a word that is no command."""
    if args_in == ["--version"]:
        print(f"evd {__version__}")
        return 0
    if args_in in ([], ["-h"], ["--help"]) and (text := outline_help(terminal_columns())):
        sys.stdout.write(text)
        return 2 if not args_in else 0
    from evd.cli.parsing import outline_parser  # noqa: PLC0415 - help that wraps, or a mistake

    outline = outline_parser()
    outline.parse_args(args_in)  # prints the help, the version or the mistake, and exits
    outline.print_help()  # nothing was asked
    return 2


def _dispatch(args_in: list[str]) -> int:
    command = args_in[0] if args_in else None
    if command is None or command not in COMMANDS:
        return _outline(args_in)
    home, handler_name, _ = COMMANDS[command]
    module = _module(home)
    # Commands that take a job's words after a FILE see only their own options.
    if command == "run":
        return module.cmd_run(args_in[1:])  # type: ignore[no-any-return]
    if args_in[:2] == ["schedule", "add"]:
        return module.cmd_schedule_add(args_in[2:])  # type: ignore[no-any-return]
    spec = getattr(module, "SPECS", {}).get(command)
    args = spec.parse(args_in[1:]) if spec is not None else None
    if args is not None:
        return getattr(module, handler_name)(args)  # type: ignore[no-any-return]
    from evd.cli.parsing import parse_words  # noqa: PLC0415 - the words need argparse

    parsed, handler = parse_words(args_in)
    return handler(parsed)


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


def __getattr__(name: str) -> Any:
    """The parsers of ``evd.cli.parsing`` (``build_parser``, ``subparser``...), from here too."""
    if name.startswith("_"):
        raise AttributeError(name)
    from evd.cli import parsing  # noqa: PLC0415

    try:
        return getattr(parsing, name)
    except AttributeError:
        raise AttributeError(f"module 'evd.cli.main' has no attribute {name!r}") from None
