"""The daemon's view of environments: Pythons, package sources, the builder, the catalog."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evd.environments import catalog
from evd.environments.builder import Builder, link_sdk
from evd.environments.fetch import PythonFetcher, downloads_allowed
from evd.environments.indexes import IndexSettings, index_settings
from evd.environments.pythons import Interpreter, NoPython, Pythons
from evd.environments.settings import JobSettings
from evd.environments.spec import EnvSpec, make_spec
from evd.paths import StateDir


def find_uv() -> str:
    """The ``uv`` binary evd builds with (the one installed with evd, else ``PATH``'s)."""
    try:
        from uv import find_uv_bin  # noqa: PLC0415 (only the daemon needs it)

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise RuntimeError("uv is not installed; evd builds environments with it") from None
        return found


class Environments:
    """Turns settings into ``EnvSpec`` s and builds them."""

    def __init__(
        self, state: StateDir, environ: Mapping[str, str], config: Mapping[str, Any]
    ) -> None:
        """Environments for the daemon of ``state``, using its environment and config."""
        self.environ = dict(environ)
        self.pythons = Pythons(environ)
        self.index: IndexSettings = index_settings(environ, config.get("index", {}))
        self.sdk_dir = state.root / "sdk"
        link_sdk(self.sdk_dir)
        cache = environ.get("UV_CACHE_DIR") or str(state.root / "uv-cache")
        uv = find_uv()
        self.builder = Builder(state.root / "envs", self.sdk_dir, uv, environ, cache)
        self.builder.refresh_sdk_paths()
        self.downloads = downloads_allowed(config.get("python", {}), environ)
        self.fetcher = PythonFetcher(uv, {**environ, "UV_CACHE_DIR": cache})

    def base(self) -> JobSettings:
        """The default environment (``envs/base.toml``; nothing installed if there is none)."""
        try:
            return catalog.load_file(catalog.find(catalog.BASE, self.environ))
        except ValueError:
            return JobSettings(name=catalog.BASE, dependencies=())

    def spec_for(self, settings: JobSettings) -> EnvSpec:
        """The venv ``settings`` need (``NoPython`` if no interpreter fits)."""
        interpreter = self.pythons.choose(settings.python)
        index = self.index
        if settings.uv_args:
            index = dataclasses.replace(index, args=(*index.args, *settings.uv_args))
        return make_spec(interpreter, settings.dependencies or (), index)

    async def fetched_spec_for(self, settings: JobSettings, log_file: Path | None) -> EnvSpec:
        """``spec_for``, fetching the Python first when none here fits and downloads are on."""
        try:
            return self.spec_for(settings)
        except NoPython as missing:
            if not self.downloads or settings.python is None or settings.python.startswith("/"):
                raise NoPython(
                    f"{missing}; downloading Pythons is off ([python] downloads in config.toml,"
                    " or UV_PYTHON_DOWNLOADS)"
                    if not self.downloads and settings.python
                    else str(missing)
                ) from None
            failed = await self.fetcher.fetch(settings.python, log_file)
            if failed is not None:
                raise NoPython(
                    f"no Python on this machine matches {settings.python!r}"
                    f" (found: {self.pythons.found_text()}), and uv could not download one:"
                    f" {failed}"
                ) from None
            self.pythons.refresh()
            return self.spec_for(settings)

    def spec_from_record(self, data: dict[str, Any]) -> EnvSpec:
        """Rebuild the ``EnvSpec`` a run recorded at submit (to build it after a restart)."""
        major, minor, micro = data["python_version"]
        interpreter = Interpreter((major, minor, micro), data["python_path"])
        return EnvSpec(
            interpreter,
            tuple(data["requirements"]),
            IndexSettings(
                tuple(data["index"]["args"]),
                tuple((k, v) for k, v in data["index"]["variables"]),
                data["index"]["uv_config"],
            ),
        )

    def reader_python(self) -> str:
        """The interpreter that reads declarations: the newest, which parses the most syntax."""
        found = self.pythons.all()
        return found[0].path if found else os.path.realpath(shutil.which("python3") or "python3")


def describe_spec(spec: EnvSpec, name: str | None, source: str) -> dict[str, Any]:
    """The env part of a run's record: enough to show it and to build it again."""
    return {
        **spec.describe(),
        "name": name,
        "source": source,
        "python_version": list(spec.interpreter.version),
        "index": spec.index.identity(),
    }
