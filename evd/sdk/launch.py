"""Run a job file inside the job's environment.

Standard library only. evd starts ``python -m evd.sdk.launch FILE FUNCTION
[--path DIR]... [--item JSON] -- WORDS...`` in the job's venv. The file is executed as
``__main__`` (as ``python FILE`` would, so Daft and multiprocessing can pickle
what it defines), then ``FUNCTION`` is called with the words (see
``evd.sdk.calling``) and, in a fan-out, the JSON item (an array: more
positional arguments; an object: keyword arguments; else one argument). A
returned ``int`` is the exit code; any other JSON value is written to
``$EVD_RUN_DIR/result.json`` (``evd result ID``). ``FUNCTION`` ``-`` runs a
plain script: the file is the whole job, as with ``python FILE``.

When the job's code is done, its exit code goes to ``$EVD_RUN_DIR/main-exit``
before the interpreter shuts down: some libraries crash the interpreter at
exit after the work finished (Daft 0.7's UDF pools: ``Fatal Python error:
PyGILState_Release``, exit 134), and evd records what the job itself said.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

from evd.sdk.calling import CallError, bind, bind_item
from evd.sdk.job import DECLARED, NO_MAP
from evd.sdk.rundir import write_run_file

RESULT_FILE = "result.json"
MAIN_EXIT_FILE = "main-exit"
SCRIPT = "-"  # the FUNCTION that means: the file is a plain script


def load_as_main(path: Path) -> types.ModuleType:
    """Execute ``path`` as the ``__main__`` module and return it."""
    module = types.ModuleType("__main__")
    module.__file__ = str(path)
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    code = compile(path.read_bytes(), str(path), "exec")
    exec(code, module.__dict__)
    return module


def write_result(value: Any) -> None:
    """Store ``value`` as the run's result (atomically), if it is JSON."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as error:
        print(
            f"evd: main returned a {type(value).__name__}, which is not JSON ({error});"
            " no result recorded",
            file=sys.stderr,
        )
        return
    if not os.environ.get("EVD_RUN_DIR"):
        print(json.dumps(value))
        return
    write_run_file(RESULT_FILE, text)


def exit_code_of(value: Any) -> int:
    """A main's return value as an exit code: an ``int`` is one, anything else means 0."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is not None:
        write_result(value)
    return 0


def record_main_exit(code: int) -> None:
    """Note that the job's own code is done and how (read by evd over the process's status).

    Output is flushed first: a crash during shutdown would lose what is still buffered.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed or replaced
            stream.flush()
    try:
        write_run_file(MAIN_EXIT_FILE, f"{code}\n")
    except OSError as error:
        print(f"evd: could not record the job's exit code: {error}", file=sys.stderr)


def code_of_exit(exit: SystemExit) -> int:
    """The exit status ``python FILE`` gives for ``exit`` (a message is printed, as it does)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code & 0xFF
    print(exit.code, file=sys.stderr)
    return 1


def run_script(path: Path) -> int:
    """Execute ``path`` as ``python FILE`` would; return its exit status."""
    try:
        load_as_main(path)
    except SystemExit as exit:
        return code_of_exit(exit)
    except BaseException as error:
        tb = error.__traceback__
        # Show the traceback from the script's own frames, as ``python FILE`` does.
        while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
            tb = tb.tb_next
        if tb is not None:
            error = error.with_traceback(tb)
        sys.excepthook(type(error), error, error.__traceback__)
        return 130 if isinstance(error, KeyboardInterrupt) else 1
    return 0


def run(
    file: str, function: str, paths: list[str], words: list[str], item: str | None = None
) -> int:
    """Load ``file``, call ``function`` with ``words`` and the JSON ``item``; return the code."""
    path = Path(file).resolve()
    sys.argv = [str(path), *words]
    if function == SCRIPT:
        sys.path[0] = str(path.parent)  # as for ``python FILE``, not the cwd of ``-m``
        sys.path[1:1] = paths
        return run_script(path)
    sys.path[:0] = [str(path.parent), *paths]
    if item is not None:  # an item of a fan-out must not fan its own file out again
        NO_MAP["item"] = str(path)
    module = load_as_main(path)
    target = getattr(module, function, None)
    if not callable(target):
        print(f"evd: {path.name} defines no function {function!r}", file=sys.stderr)
        return 2
    for job in DECLARED:
        if job.entrypoint is target and job.called:
            return exit_code_of(job.returned)  # the file called its main itself
    return call(target, function, words, item)


def call(target: Any, function: str, words: list[str], item: str | None) -> int:
    """Call ``target`` with ``words`` and the JSON ``item``; return the exit code."""
    try:
        args, kwargs = bind(target, words, partial=item is not None)
        if item is not None:
            args, kwargs = bind_item(target, args, kwargs, json.loads(item))
    except CallError as error:
        print(f"evd: cannot call {function}: {error}", file=sys.stderr)
        return 2
    return exit_code_of(target(*args, **kwargs))


def parse(argv: list[str]) -> tuple[str, str, list[str], str | None, list[str]]:
    """``FILE FUNCTION [--path DIR]... [--item JSON] -- WORDS...``: its parts, in that order."""
    split = argv.index("--") if "--" in argv else len(argv)
    head, words = argv[:split], argv[split + 1 :]
    file, function, rest = head[0], head[1], head[2:]
    options = [(rest[i], rest[i + 1]) for i in range(0, len(rest) - 1, 2)]
    paths = [value for option, value in options if option == "--path"]
    item = next((value for option, value in options if option == "--item"), None)
    return file, function, paths, item, words


def main(argv: list[str]) -> int:
    """Parse ``FILE FUNCTION [--path DIR]... [--item JSON] -- WORDS...`` and run."""
    file, function, paths, item, words = parse(argv)
    try:
        code = run(file, function, paths, words, item)
    except SystemExit as exit:
        code = code_of_exit(exit)
    record_main_exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
