"""Helpers the tests share: the CLI's JSON, a free port, waiting, and an in-process engine."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from evd.daemon.engine import Engine
from evd.paths import StateDir
from evd.store import Store
from tests.conftest import Evd, kill_leftover_jobs

START = 1_900_000_000.0  # a fake "now", far from the real one


def show(evd: Evd, ident: str) -> dict[str, object]:
    """``evd show --json ID`` as a dict."""
    shown: dict[str, object] = json.loads(evd.cli("show", "--json", ident, check=True).stdout)
    return shown


def submit(evd: Evd, *args: str) -> str:
    """``evd run -q ARGS``: the new run's id."""
    return evd.cli("run", "-q", *args, check=True).stdout.strip()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def until(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    """Let the loop run until ``predicate()`` holds, or fail the test."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.01)


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run_engine(
    state: StateDir, scenario: Callable[[Engine, Store], Awaitable[None]], **options: Any
) -> None:
    """Run ``scenario`` on an in-process engine over a real store in ``state``.

    ``options`` go to ``Engine`` (``parallel`` defaults to 2, ``kill_grace`` to 1).
    No job of the scenario outlives it, even when an assertion fails mid-way.
    """
    state.ensure()
    store = Store(state.database)
    options = {"parallel": 2, "kill_grace": 1, **options}

    async def main() -> None:
        engine = Engine(state, store, **options)
        engine.start(asyncio.get_running_loop())
        try:
            await scenario(engine, store)
        finally:
            engine.shutdown()

    try:
        asyncio.run(main())
    finally:
        store.close()
        kill_leftover_jobs(state.root)
