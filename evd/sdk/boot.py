"""Run at the start of every interpreter in a job's venv: hooks evd into Daft, when Daft is used.

Every venv evd builds has a ``.pth`` line ``import _evd_boot`` (a link to
this file beside the SDK), so this runs before any job code, in the job's
process and in every process it starts with the same Python (Daft's UDF
workers among them). It must stay cheap — standard library only, no import
of ``evd`` — and do nothing outside an evd run (no ``EVD_RUN_DIR``).

Inside a run it registers post-import hooks: when the job imports ``daft``,
``evd.sdk.daft_hooks`` attaches evd's progress subscriber, sizes Daft's
thread pool from the run's CPUs, and gives each GPU UDF worker its own
device(s). A hook that fails prints one line and leaves the job alone.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

Hook = Callable[[types.ModuleType], None]


class _HookedLoader(importlib.abc.Loader):
    """A module's own loader, then the hook once the module has executed."""

    def __init__(self, loader: Any, hook: Hook) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # The module's own loader is what it should see (resources, reloads).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        try:
            self._hook(module)
        except Exception as error:  # never break the job's import
            print(f"evd: could not hook into {module.__name__}: {error!r}", file=sys.stderr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class AfterImport(importlib.abc.MetaPathFinder):
    """Calls a hook with a module right after it is first imported."""

    def __init__(self, hooks: dict[str, Hook]) -> None:
        """Watch for the modules named in ``hooks``."""
        self.hooks = hooks

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """The spec the other finders give, with the hook around its loader."""
        hook = self.hooks.pop(fullname, None)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: importlib.machinery.ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _HookedLoader(spec.loader, hook)
                return spec
        return None


def _daft_hook(name: str) -> Hook:
    def hook(module: types.ModuleType) -> None:
        from evd.sdk import daft_hooks  # noqa: PLC0415  (only once Daft is imported)

        getattr(daft_hooks, name)(module)

    return hook


def install() -> None:
    """Register the hooks when this interpreter belongs to an evd run."""
    if not os.environ.get("EVD_RUN_DIR") or os.environ.get("EVD_HOOKS") == "off":
        return
    sys.meta_path.insert(
        0,
        AfterImport(
            {
                "daft": _daft_hook("on_daft"),
                "daft.udf.udf_v2": _daft_hook("on_udf_v2"),
                "daft.execution.udf": _daft_hook("on_udf_execution"),
            }
        ),
    )


install()
