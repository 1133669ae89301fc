"""Split ``evd run`` arguments: evd's options come first, the job's words after.

``evd run --name x train.py --lr 3`` gives ``--lr 3`` to the job; ``--`` starts a
command. argparse alone cannot tell the job's options from evd's.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from evd.errors import InvalidRequest
from evd.models import SubmitRequest


@dataclass(frozen=True)
class RunArgs:
    """evd's own option words, and the job's target and words."""

    options: list[str]
    target: str | None  # a file, or None for a command after `--`
    job_args: list[str]
    is_command: bool


def options_taking_values(parser: argparse.ArgumentParser) -> frozenset[str]:
    """The option words of ``parser`` that take a value (``--name``, not ``--quiet``)."""
    return frozenset(
        word for action in parser._actions if action.nargs != 0 for word in action.option_strings
    )


def split_run_argv(argv: list[str], takes_value: frozenset[str]) -> RunArgs:
    """Split at ``--`` or the first word that is not an option or an option's value."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            return RunArgs(argv[:index], None, argv[index + 1 :], True)
        if word.startswith("-") and word != "-":
            if word in takes_value:
                index += 1  # its value follows
            index += 1
            continue
        return RunArgs(argv[:index], word, argv[index + 1 :], False)
    return RunArgs(argv, None, [], False)


def aim(request: SubmitRequest, split: RunArgs, verb: str) -> None:
    """Point ``request`` at what ``split`` names: a command, or ``FILE.py[:FUNCTION]`` and words.

    ``verb`` is the command being typed (``evd run``), for the messages.
    """
    if split.is_command:
        if not split.job_args:
            raise InvalidRequest(f"nothing after `--`: give a command, e.g. `{verb} -- echo hi`")
        request.command = split.job_args
        return
    if split.target is None:
        raise InvalidRequest(f"give a FILE.py, or a command after `--`: {verb} [OPTIONS] FILE.py")
    file, _, function = split.target.partition(":")
    if not file.endswith(".py"):
        raise InvalidRequest(
            f"{split.target!r} is not a .py file; to run a command put it after `--`:"
            f" {verb} -- {split.target} ..."
        )
    request.file = file
    request.function = function or None
    request.args = split.job_args
