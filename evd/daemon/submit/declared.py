"""A job file's declarations: read by ``evd.sdk.declare`` in a sandboxed interpreter.

Only files that import ``evd`` (or ``ev``) are read; the reader runs the file's
top level with the SDK's ``Job``/``Env`` recording what they declare, under a
time limit, and its answer is kept per source text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from evd.daemon.envs.envmanager import Environments
from evd.daemon.submit.validate import Job
from evd.sdk.checks import DeclarationError

READ_TIMEOUT = 15.0
READ_CACHE_SIZE = 256
# The file uses evd's SDK (or ev's): its top level must be read to find its jobs.
USES_SDK = re.compile(r"^\s*(from\s+evd?(\.\w+)*\s+import|import\s+evd?\b)", re.MULTILINE)
_READER = (
    "import sys; sys.path.insert(0, sys.argv.pop(1));"
    " from evd.sdk.declare import main; sys.exit(main(sys.argv[1:]))"
)


class DeclarationReader:
    """Reads job files' declarations, remembering the latest answers by source."""

    def __init__(self, environments: Environments) -> None:
        """Read with ``environments``' reader interpreter and the SDK it ships."""
        self.environments = environments
        self._cache: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    async def declarations(self, snapshot: Path, origin_dir: Path, source: str) -> dict[str, Any]:
        """The file's declarations, from the cache when this exact source was read before.

        Declarations are a function of the source (and, rarely, of modules it
        imports from its folder): a resubmitted file skips the ~40 ms reader.
        """
        key = (hashlib.sha256(source.encode()).hexdigest(), str(origin_dir))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result = await self._read(snapshot, origin_dir)
        self._cache[key] = result
        if len(self._cache) > READ_CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    async def _read(self, snapshot: Path, origin_dir: Path) -> dict[str, Any]:
        """Run the declaration reader on ``snapshot`` (see ``evd.sdk.declare``)."""
        out = snapshot.parent.parent / "declarations.json"
        process = await asyncio.create_subprocess_exec(
            self.environments.reader_python(), "-I", "-S", "-c", _READER,
            str(self.environments.sdk_dir), str(snapshot), str(out), str(origin_dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=str(origin_dir) if origin_dir.is_dir() else None,
            env={"PATH": self.environments.environ.get("PATH", ""), "DO_NOT_TRACK": "1"},
        )  # fmt: skip
        try:
            output, _ = await asyncio.wait_for(process.communicate(), READ_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise DeclarationError(
                f"reading {snapshot.name}'s declarations took over {READ_TIMEOUT:.0f} s:"
                " a job file's top level should declare its jobs, not do the work"
            ) from None
        try:
            result: dict[str, Any] = json.loads(out.read_text())
        except (OSError, ValueError):
            tail = output.decode("utf-8", "replace").strip().splitlines()[-5:]
            raise DeclarationError(
                f"could not read {snapshot.name}'s declarations: " + " / ".join(tail)
            ) from None
        finally:
            out.unlink(missing_ok=True)
        if not result["ok"]:
            raise DeclarationError(result["error"])
        return result


def choose_job(declarations: dict[str, Any], job: Job) -> tuple[dict[str, Any] | None, str | None]:
    """The declared job to run and its entry point (or the function asked for)."""
    jobs = declarations["jobs"]
    if job.function is not None:
        if job.function not in declarations["functions"]:
            names = ", ".join(declarations["functions"]) or "none"
            raise DeclarationError(
                f"{Path(job.file or '').name} has no function {job.function!r}"
                f" (its functions: {names})"
            )
        owner = [j for j in jobs if j["main"] == job.function]
        return (owner[0] if owner else None), job.function
    with_main = [j for j in jobs if j["main"]]
    if not jobs:
        return None, None  # a plain script that happens to import the SDK
    if not with_main:
        raise DeclarationError(
            f"Job {jobs[0]['name']!r} has no main: mark its entry point with"
            f" @job.main() (or run one function with `evd run FILE.py:FUNCTION`)"
        )
    if len(with_main) > 1:
        names = ", ".join(f"{j['name']} ({j['main']})" for j in with_main)
        raise DeclarationError(
            f"the file declares {len(with_main)} jobs with a main: {names};"
            " pick one with `evd run FILE.py:FUNCTION`"
        )
    return with_main[0], with_main[0]["main"]
