"""Option tables: the fast reading of a command's words is argparse's, or leaves them to it."""

import argparse
import contextlib
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from evd.cli.argsplit import options_taking_values
from evd.cli.parsing import command_parser
from evd.cli.runs import RUN, SPECS
from evd.cli.spec import Args, Command

TABLES: list[Command] = [RUN, *SPECS.values()]

# Words that exercise every path: each table's spellings, values that convert
# and values that do not, what argparse treats specially.
VALUES = ["x", "5", "12", "1.5", "30m", "4GiB", "g3", "12,14", "on-failure", "no", "bad", ""]
SPECIAL = ["-", "--", "-h", "--help", "-1", "-qf", "--nam", "--json=1", "--name=x", "--limit=3"]


def argparse_reading(command: Command, words: list[str]) -> Args | None:
    """What the command's argparse parser makes of ``words`` (``None``: it refused them)."""
    parser = command_parser(command.name)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return parser.parse_args(words, namespace=Args())
        except SystemExit:
            return None


def words_for(command: Command) -> st.SearchStrategy[list[str]]:
    vocabulary = [*command.options, *VALUES, *SPECIAL]
    return st.lists(st.sampled_from(vocabulary), max_size=7)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_what_the_table_reads_argparse_reads_the_same(data: st.DataObject) -> None:
    command = data.draw(st.sampled_from(TABLES))
    words = data.draw(words_for(command))
    fast = command.parse(words)
    if fast is not None:
        assert fast == argparse_reading(command, words), words


def test_the_usual_words_are_read_without_argparse() -> None:
    usual = {
        "run": [["-q"], ["--name", "x", "--gpus", "0.5", "--after", "3,4", "--after=5", "-f"]],
        "ps": [[], ["-a"], ["--all", "--limit", "5", "--json"]],
        "show": [["12"], ["g3", "--json"]],
        "logs": [["7"], ["-f", "7"], ["7", "--build"]],
        "wait": [["1", "2", "g3"], ["-q", "--timeout", "30m", "4"]],
        "cancel": [["5", "g2"]],
        "result": [["9"]],
        "prune": [["--older-than", "30d"]],
    }
    for command in TABLES:
        for words in usual[command.name]:
            fast = command.parse(words)
            assert fast is not None, (command.name, words)
            assert fast == argparse_reading(command, words)
    assert RUN.parse(["--after", "3,4", "--after", "5"]).after == [[3, 4], [5]]  # type: ignore[union-attr]


def test_what_the_table_leaves_argparse_explains() -> None:
    for words in (["--nam", "x"], ["-h"], ["--timeout", "5x"], ["--restart", "sometimes"]):
        assert RUN.parse(words) is None
    assert SPECS["show"].parse(["x"]) is None
    assert SPECS["wait"].parse([]) is None
    assert SPECS["prune"].parse([]) is None  # --older-than is required


def test_the_options_that_take_a_value_are_the_parsers() -> None:
    for command in TABLES:
        parser = command_parser(command.name)
        assert command.takes_value == options_taking_values(parser) - {"-h", "--help"}
        flags = {f for a in parser._actions for f in a.option_strings} - {"-h", "--help"}
        assert set(command.options) == flags
        assert isinstance(parser, argparse.ArgumentParser)
