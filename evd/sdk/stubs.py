"""Stand-ins for modules a job imports but the declaration reader does not have.

evd reads a job file's declarations (``Env``, ``Job``) by executing its top
level with only the standard library and evd's SDK on ``sys.path``: ``import
daft`` and ``from torch import nn`` then give stubs instead of failing, so the
reader needs neither the job's packages nor the time to import them (the same
trick as Sphinx's ``autodoc_mock_imports``). A stub accepts attribute access,
calls, decoration, subclassing and iteration, and does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any


class Stub:
    """Any object of a module the reader does not have."""

    def __init__(self, name: str) -> None:
        self._stub_name = name

    def __getattr__(self, attr: str) -> Stub:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return Stub(f"{self._stub_name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Another stub; used as a bare decorator (``@daft.func``), what it decorates."""
        if len(args) == 1 and not kwargs and (callable(args[0]) or isinstance(args[0], type)):
            return args[0]
        return Stub(f"{self._stub_name}()")

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        return (object,)  # `class Model(nn.Module)` defines a plain class

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True

    def __getitem__(self, key: Any) -> Stub:
        return Stub(f"{self._stub_name}[]")

    def __enter__(self) -> Stub:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __or__(self, other: Any) -> Stub:  # type unions in annotations: `Tensor | None`
        return self

    __ror__ = __or__
    __add__ = __sub__ = __mul__ = __truediv__ = __matmul__ = __or__

    def __repr__(self) -> str:
        return f"<stub {self._stub_name}>"


class StubModule(types.ModuleType):
    """A module of stubs; a package too, so its submodules import."""

    def __getattr__(self, attr: str) -> Stub:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return Stub(f"{self.__name__}.{attr}")


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class StubFinder(importlib.abc.MetaPathFinder):
    """Placed last on ``sys.meta_path``: what no real finder found becomes a stub module."""

    def __init__(self) -> None:
        self.stubbed: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for a stub module (recording the name)."""
        self.stubbed.append(fullname)
        return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)


def install() -> StubFinder:
    """Make every import that would fail give a stub instead; return the finder."""
    finder = StubFinder()
    sys.meta_path.append(finder)
    return finder
