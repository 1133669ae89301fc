"""Split ``evd run`` arguments: evd's options come first, the job's words after.

``evd run --name x train.py --lr 3`` gives ``--lr 3`` to the job; ``--`` starts a
command. argparse alone cannot tell the job's options from evd's.
"""

from __future__ import annotations

from evd.errors import InvalidRequest

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    import argparse
    from typing import Any


class RunArgs:
    """evd's own option words, and the job's target and words.

    A plain class, not a dataclass: ``evd run`` is a hot command, and building
    a dataclass costs its import and the class's creation.
    """

    __slots__ = ("is_command", "job_args", "options", "target")

    def __init__(
        self, options: list[str], target: str | None, job_args: list[str], is_command: bool
    ) -> None:
        """``target``: a file, or ``None`` for a command after ``--``."""
        self.options = options
        self.target = target
        self.job_args = job_args
        self.is_command = is_command


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


SPEC_SUFFIXES = (".toml", ".yaml", ".yml")  # evd.daemon.submit.specfile's


def aim(split: RunArgs, verb: str) -> dict[str, Any]:
    """The request's fields that say what to run: a command, or ``FILE.py[:FUNCTION]`` and words.

    ``verb`` is the command being typed (``evd run``), for the messages.
    """
    if split.is_command:
        if not split.job_args:
            raise InvalidRequest(f"nothing after `--`: give a command, e.g. `{verb} -- echo hi`")
        return {"command": split.job_args}
    if split.target is None:
        raise InvalidRequest(f"give a FILE.py, or a command after `--`: {verb} [OPTIONS] FILE.py")
    if split.target.lower().endswith(SPEC_SUFFIXES):  # a job spec: the daemon reads it
        return {"file": split.target, "args": split.job_args}
    file, _, function = split.target.partition(":")
    if not file.endswith(".py"):
        raise InvalidRequest(
            f"{split.target!r} is not a .py file or a job spec (.toml, .yaml); to run a command"
            f" put it after `--`: {verb} -- {split.target} ..."
        )
    return {"file": file, "function": function or None, "args": split.job_args}
