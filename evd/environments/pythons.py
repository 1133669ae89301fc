"""The Pythons on this machine, and the one a job's ``python`` request picks.

uv's own discovery walks ``PATH``, where pyenv's shims sit: they fail for any
version that is not pyenv's global one, and cost ~150 ms a start when they
work. So evd finds interpreters itself, by their real paths: the one evd runs
on, pyenv's ``versions/*``, uv-managed Pythons, and ``python3*`` on ``PATH``
outside shim folders. A request nothing matches is fetched the way uv fetches
it (``evd.environments.fetch``) unless downloads are off; then, or when the
fetch fails, it fails at once with the versions that exist.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from evd.environments.fetch import uv_pythons_dir
from evd.errors import InvalidRequest

log = logging.getLogger("evd.pythons")

_VERSION_DIR = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_UV_DIR = re.compile(r"cpython-(\d+)\.(\d+)\.(\d+)-[^/]*")
_EXECUTABLE = re.compile(r"python3(\.\d+)?")
OLDEST = (3, 8, 0)  # uv builds nothing older


class NoPython(InvalidRequest):
    """No interpreter on this machine satisfies the request."""


@dataclass(frozen=True, order=True)
class Interpreter:
    """A CPython interpreter: its version and its real (symlink-free) path."""

    version: tuple[int, int, int]
    path: str

    @property
    def version_text(self) -> str:
        """``3.11.7``."""
        return ".".join(map(str, self.version))


def _probe(path: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run(
            [path, "-I", "-S", "-c", "import sys; print(*sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
        return (int(out[0]), int(out[1]), int(out[2]))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def own() -> Interpreter:
    """The interpreter evd runs on (the base one, when evd runs in a venv)."""
    base = getattr(sys, "_base_executable", sys.executable)
    major, minor, micro = sys.version_info[:3]
    return Interpreter((major, minor, micro), os.path.realpath(base))


class Pythons:
    """Discovers interpreters once, then answers requests from memory (``refresh`` to redo)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self._found: list[Interpreter] | None = None
        self._probed: dict[str, tuple[int, int, int] | None] = {}
        self.skipped: dict[str, str] = {}  # folder -> why discovery could not look in it

    def _version_of(self, path: str) -> tuple[int, int, int] | None:
        if path not in self._probed:
            self._probed[path] = _probe(path)
        return self._probed[path]

    def _named_by_folder(self) -> list[Interpreter]:
        found = []
        pyenv_root = self.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
        for folder in self._listed(Path(pyenv_root, "versions")):
            match = _VERSION_DIR.fullmatch(folder.name)
            executable = folder / "bin" / "python3"
            if match and executable.exists():
                version = (int(match[1]), int(match[2]), int(match[3]))
                found.append(Interpreter(version, os.path.realpath(executable)))
        uv_root = uv_pythons_dir(self.environ)
        for folder in self._listed(Path(uv_root)):
            match = _UV_DIR.fullmatch(folder.name)
            executable = folder / "bin" / "python3"
            if match and executable.exists():
                version = (int(match[1]), int(match[2]), int(match[3]))
                found.append(Interpreter(version, os.path.realpath(executable)))
        return found

    def _listed(self, folder: Path) -> list[Path]:
        """``folder``'s entries, sorted; none (and a note in ``skipped``) if it cannot be read.

        A Python folder of another user (a ``PYENV_ROOT`` this user may not
        read) is passed over, never a reason for a job to fail.
        """
        try:
            return sorted(folder.iterdir())
        except FileNotFoundError:
            return []
        except OSError as error:
            if str(folder) not in self.skipped:
                log.warning("Python discovery skips %s: %s", folder, error.strerror)
            self.skipped[str(folder)] = error.strerror or str(error)
            return []

    def _on_path(self) -> list[Interpreter]:
        found = []
        folders = self.environ.get("PATH", os.defpath).split(os.pathsep)
        for folder in dict.fromkeys([*folders, "/usr/local/bin", "/usr/bin"]):
            if not folder or "shims" in Path(folder).parts:
                continue
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in sorted(names):
                if not _EXECUTABLE.fullmatch(name):
                    continue
                path = os.path.realpath(os.path.join(folder, name))
                version = self._version_of(path)
                if version is not None:
                    found.append(Interpreter(version, path))
        return found

    def all(self) -> list[Interpreter]:
        """Every interpreter found (3.8 or newer), newest first, one per real path."""
        if self._found is None:
            by_path: dict[str, Interpreter] = {}
            for interpreter in [own(), *self._named_by_folder(), *self._on_path()]:
                if interpreter.version >= OLDEST:
                    by_path.setdefault(interpreter.path, interpreter)
            self._found = sorted(by_path.values(), reverse=True)
        return self._found

    def refresh(self) -> None:
        """Forget what was found (a Python was installed meanwhile)."""
        self._found = None
        self._probed.clear()

    def choose(self, request: str | None) -> Interpreter:
        """The interpreter for ``request``: evd's own if it fits, else the newest that does."""
        if request is None:
            return own()
        if request.startswith("/"):
            return self._explicit(request)
        matches = [i for i in self.all() if _fits(i.version, request)]
        if not matches:
            self.refresh()  # maybe installed since we last looked
            matches = [i for i in self.all() if _fits(i.version, request)]
        if not matches:
            raise NoPython(
                f"no Python on this machine matches {request!r} (found: {self.found_text()})."
                " Install one (pyenv, `uv python install`, the system's packages) or ask for"
                " a version that exists"
            )
        mine = own()
        return mine if mine in matches else matches[0]

    def found_text(self) -> str:
        """``3.10.13, 3.11.7, 3.12.1``: the versions found, for messages."""
        return ", ".join(sorted({i.version_text for i in self.all()}, key=_key)) or "none"

    def _explicit(self, path: str) -> Interpreter:
        real = os.path.realpath(path)
        version = self._version_of(real) if os.access(real, os.X_OK) else None
        if version is None:
            raise NoPython(f"the Python {path!r} does not exist or does not run")
        return Interpreter(version, real)


def _key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _fits(version: tuple[int, int, int], request: str) -> bool:
    if request[0].isdigit():
        wanted = tuple(int(part) for part in request.split("."))
        return version[: len(wanted)] == wanted
    try:
        return Version(".".join(map(str, version))) in SpecifierSet(request)
    except InvalidSpecifier:
        return False
