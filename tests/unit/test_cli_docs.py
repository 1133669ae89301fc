"""Every command has help text and appears in the README; every option says what it does."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evd.cli.main import COMMANDS, build_parser, outline_help
from evd.cli.parsing import outline_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser, _ = build_parser()  # every command
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_has_help_and_a_handler() -> None:
    parser, handlers = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    assert set(subcommands()) == set(COMMANDS) == set(handlers)
    for name in subcommands():
        assert helps.get(name), f"`evd {name}` has no help text"
        assert callable(handlers[name]), f"`evd {name}` has no handler"


def test_a_command_builds_only_its_own_parsers() -> None:
    parser, handlers = build_parser("ps")
    built = set(subparser_names(parser))
    assert "ps" in built and "logs" in built  # evd.cli.runs adds both
    assert "watch" not in built and "tui" not in built
    assert set(handlers) == built


def subparser_names(parser: argparse.ArgumentParser) -> list[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


def test_every_option_has_help() -> None:
    for name, sub in subcommands().items():
        for action in sub._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, f"`evd {name} {action.option_strings[0]}` has no help text"


def test_every_command_is_in_the_readme() -> None:
    # `evd up | down | daemon` documents three commands on one line.
    grouped = {"up", "down", "daemon"} if "evd up | down | daemon" in README else set()
    for name in subcommands():
        mentioned = re.search(rf"\bevd {name}\b", README)
        assert name in grouped or mentioned, f"`evd {name}` is not in README.md"


def test_the_outline_lists_every_command_without_importing_any(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # one width here and in the child
    # `evd --help` is made from evd.cli.commands alone (each module is imported
    # by its own command): the same lines as the full tree, without its cost.
    probe = (
        "import contextlib, io, sys\n"
        "from evd.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('evd.cli.')))\n"
        "print(out.getvalue())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    imported, _, text = result.stdout.partition("\n")
    assert imported == str(["evd.cli.commands", "evd.cli.main", "evd.cli.say"])
    parser, _ = build_parser()
    assert text.strip() == parser.format_help().strip()


def test_the_outline_is_argparse_s_at_every_width(monkeypatch: pytest.MonkeyPatch) -> None:
    laid_out = set()
    for columns in range(10, 201):
        monkeypatch.setenv("COLUMNS", str(columns))
        text = outline_help(columns)
        if text is not None:
            laid_out.add(columns)
            assert text == outline_parser().format_help(), columns
    # Most widths, and the common terminals', need no argparse.
    assert {80, 100, 120, 160, 200} <= laid_out and len(laid_out) > 120


def test_the_hot_commands_import_no_argparse_json_or_socket(tmp_path: Path) -> None:
    # Each of these modules costs an `evd ps` more than its call to the daemon.
    probe = (
        "import sys\n"
        "from evd.cli.main import main\n"
        "main(sys.argv[1:])\n"
        "heavy = {'argparse', 're', 'json', 'socket', 'enum', 'datetime', 'typing', 'contextlib'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    env = {"EVD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    hot = [["run", "-q", "--", "true"], ["ps"], ["show", "1"], ["logs", "1"], ["wait", "1"]]
    for words in [*hot, ["cancel", "1"]]:
        result = subprocess.run(
            [sys.executable, "-c", probe, *words],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert "evd is not running" in result.stderr  # it got as far as connecting
        assert result.stdout.strip() == "[]", (words, result.stdout)
