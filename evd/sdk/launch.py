"""Run a job file's entry point inside the job's environment.

Standard library only. evd starts ``python -m evd.sdk.launch FILE FUNCTION
[--path DIR]... -- WORDS...`` in the job's venv. The file is executed as
``__main__`` (as ``python FILE`` would, so Daft and multiprocessing can pickle
what it defines), then ``FUNCTION`` is called with the words (see
``evd.sdk.calling``). A returned ``int`` is the exit code; any other JSON value
is written to ``$EVD_RUN_DIR/result.json`` (``evd result ID``).
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

from evd.sdk.calling import CallError, bind
from evd.sdk.job import DECLARED

RESULT_FILE = "result.json"


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
    run_dir = os.environ.get("EVD_RUN_DIR")
    if not run_dir:
        print(json.dumps(value))
        return
    final = Path(run_dir) / RESULT_FILE
    partial = final.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(final)


def exit_code_of(value: Any) -> int:
    """A main's return value as an exit code: an ``int`` is one, anything else means 0."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is not None:
        write_result(value)
    return 0


def run(file: str, function: str, paths: list[str], words: list[str]) -> int:
    """Load ``file``, call ``function`` with ``words``; return the exit code."""
    path = Path(file).resolve()
    sys.argv = [str(path), *words]
    sys.path[:0] = [str(path.parent), *paths]
    module = load_as_main(path)
    target = getattr(module, function, None)
    if not callable(target):
        print(f"evd: {path.name} defines no function {function!r}", file=sys.stderr)
        return 2
    for job in DECLARED:
        if job.entrypoint is target and job.called:
            return exit_code_of(job.returned)  # the file called its main itself
    try:
        args, kwargs = bind(target, words)
    except CallError as error:
        print(f"evd: cannot call {function}: {error}", file=sys.stderr)
        return 2
    return exit_code_of(target(*args, **kwargs))


def main(argv: list[str]) -> int:
    """Parse ``FILE FUNCTION [--path DIR]... -- WORDS...`` and run."""
    split = argv.index("--") if "--" in argv else len(argv)
    head, words = argv[:split], argv[split + 1 :]
    file, function, rest = head[0], head[1], head[2:]
    paths = [rest[i + 1] for i in range(0, len(rest) - 1, 2) if rest[i] == "--path"]
    return run(file, function, paths, words)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
