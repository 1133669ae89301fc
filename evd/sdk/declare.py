"""Read a job file's declarations without running its job (the daemon's reader).

Standard library only. The daemon runs ``python -I -S -m evd.sdk.declare FILE
OUT [DIR...]`` with evd's SDK as the only thing on ``sys.path`` besides the
standard library: the file's top level runs (so ``Env``/``Job`` declarations
are real objects), imports the reader lacks become stubs (``evd.sdk.stubs``),
and no ``main`` is called. The file runs as module ``__evd_declarations__``,
so an ``if __name__ == "__main__":`` block stays off. ``OUT`` receives JSON::

    {"ok": true, "jobs": [Job.to_dict()...], "functions": ["main", ...]}
    {"ok": false, "kind": "syntax" | "declaration" | "error", "error": "what and where"}
"""

from __future__ import annotations

import builtins
import inspect
import json
import sys
import traceback
import types
from pathlib import Path
from typing import Any

from evd.sdk import stubs
from evd.sdk.checks import DeclarationError
from evd.sdk.job import DECLARED, NO_MAP

MODULE_NAME = "__evd_declarations__"


def _where(error: BaseException, path: Path) -> str:
    """``file.py, line N`` of the innermost frame in the job file, if any."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename == str(path):
            return f"{path.name}, line {frame.lineno}"
    return path.name


def read(path: Path, extra_paths: list[str]) -> dict[str, Any]:
    """The declarations of ``path``, or what stopped them being read."""
    sys.path[:0] = [str(path.parent), *extra_paths]
    try:
        code = compile(path.read_bytes(), str(path), "exec")
    except SyntaxError as error:
        return {
            "ok": False,
            "kind": "syntax",
            "error": f"syntax error in {path.name}, line {error.lineno}: {error.msg}",
        }
    except ValueError as error:  # NUL bytes: not Python source at all
        return {
            "ok": False,
            "kind": "syntax",
            "error": f"{path.name} is not Python source: {error}",
        }
    stubs.install()
    NO_MAP["declarations"] = str(path)
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = str(path)
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules[MODULE_NAME] = module
    sys.argv = [str(path)]
    try:
        exec(code, module.__dict__)
    except DeclarationError as error:
        return {"ok": False, "kind": "declaration", "error": f"{_where(error, path)}: {error}"}
    except SystemExit as error:
        return {
            "ok": False,
            "kind": "error",
            "error": f"{path.name} called exit({error.code}) while being loaded",
        }
    except BaseException as error:
        return {
            "ok": False,
            "kind": "error",
            "error": f"{_where(error, path)}: {type(error).__name__}: {error}",
        }
    functions = [
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]
    return {"ok": True, "jobs": [job.to_dict() for job in DECLARED], "functions": functions}


def main(argv: list[str]) -> int:
    """``FILE OUT [DIR...]``: write the declarations of FILE to OUT as JSON."""
    path, out, extra = Path(argv[0]), Path(argv[1]), argv[2:]
    result = read(path, extra)
    out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
