"""evd: a job runner for one GPU workstation.

Jobs declare what they need with the SDK::

    from evd import Env, Job

    env = Env("3.11").pip_install(["daft==0.7.26"])
    job = Job("hello", env)

    @job.main()
    def main() -> int:
        return 0

This package is imported inside job environments, so everything reachable from
here at import time is standard library only. The daemon lives in
``evd.daemon`` and is imported only by the ``evd daemon`` command.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`'s: importing typing costs ~5 ms of every command
__version__ = "0.1.0"

__all__ = [
    "Cache", "DeclarationError", "Env", "Job", "Resources", "Reuse", "Volume", "__version__",
    "preempted", "progress",
]  # fmt: skip

if TYPE_CHECKING:
    from typing import Any

    from evd.sdk import Cache, DeclarationError, Env, Job, Resources, Reuse, Volume
    from evd.sdk.preempt import preempted
    from evd.sdk.progress import progress

# The SDK is imported on first use (PEP 562): the CLI imports this package on
# every command and needs none of it.
_LAZY = {
    "Cache": "evd.sdk",
    "DeclarationError": "evd.sdk",
    "Env": "evd.sdk",
    "Job": "evd.sdk",
    "Resources": "evd.sdk",
    "Reuse": "evd.sdk",
    "Volume": "evd.sdk",
    "progress": "evd.sdk.progress",
    "preempted": "evd.sdk.preempt",
}


def __getattr__(name: str) -> Any:
    """Import an SDK name when it is first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'evd' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - with warnings under it: not on a command's path

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
