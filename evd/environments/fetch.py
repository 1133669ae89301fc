"""Fetching a Python the machine lacks, the way ``uv run --python 3.11`` does.

By default (``[python] downloads = "automatic"``) a request no interpreter on
the machine satisfies is installed with ``uv python install``: a managed
CPython under uv's Python folder, fetched once and found by every later
build. ``downloads = "never"`` in ``config.toml``, or ``UV_PYTHON_DOWNLOADS``
set to ``never`` or ``manual`` in the daemon's environment, forbids it.

uv retries a failing download for a while (about 10 s offline, here); evd
asks for no retries, so an unreachable download host fails in well under a
second and the run's reason names the Pythons that are there.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

FETCH_TIMEOUT = 600.0  # a slow mirror; a hang ends here
SETTINGS = ("automatic", "manual", "never")


def downloads_allowed(config: Mapping[str, object], environ: Mapping[str, str]) -> bool:
    """Whether evd may download Pythons: ``[python] downloads`` and ``UV_PYTHON_DOWNLOADS``."""
    said = str(config.get("downloads", "automatic"))
    variable = environ.get("UV_PYTHON_DOWNLOADS", "automatic")
    return said == "automatic" and variable not in ("never", "manual", "0", "false")


class PythonFetcher:
    """Runs ``uv python install`` for one request at a time (the same request, once)."""

    def __init__(self, uv: str, environ: Mapping[str, str]) -> None:
        """Fetch with the ``uv`` binary, in ``environ`` (the daemon's, with uv's settings)."""
        self.uv = uv
        self.environ = {
            **environ,
            "UV_PYTHON_DOWNLOADS": "automatic",
            "UV_HTTP_RETRIES": "0",
            "UV_NO_PROGRESS": "1",
            "NO_COLOR": "1",
        }
        self._locks: dict[str, asyncio.Lock] = {}

    async def fetch(self, request: str, log_file: Path | None) -> str | None:
        """Install a Python for ``request``; ``None`` when it worked, else why not (uv's words)."""
        lock = self._locks.setdefault(request, asyncio.Lock())
        async with lock:
            process = await asyncio.create_subprocess_exec(
                self.uv, "python", "install", request,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self.environ,
            )  # fmt: skip
            try:
                output, _ = await asyncio.wait_for(process.communicate(), FETCH_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
                return f"uv python install {request} took over {FETCH_TIMEOUT:.0f} s"
        text = output.decode(errors="replace")
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(log_file, "a", encoding="utf-8") as out:
                out.write(f"evd: fetching a Python for {request!r}: uv python install {request}\n")
                out.write(text)
        if process.returncode == 0:
            return None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        causes = [line for line in lines if line.startswith(("error:", "cause:"))] or lines[-1:]
        return "; ".join(causes[:3]) or f"uv exited with code {process.returncode}"


def uv_pythons_dir(environ: Mapping[str, str]) -> str:
    """Where uv keeps the Pythons it installs (``UV_PYTHON_INSTALL_DIR``)."""
    data = environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(data, "uv", "python")
