"""Helpers the tests share: CLI JSON, a free port, waiting, a ledger rig, an in-process engine."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import site
import socket
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from evd.daemon.core.bus import EventBus
from evd.daemon.core.ledger import Ledger
from evd.daemon.engine import Engine
from evd.errors import StorageError
from evd.models import RunState
from evd.paths import StateDir
from evd.store import RunRecord, Store
from tests.conftest import Evd, kill_leftover_jobs
from tests.fakenvml import GIB, FakeNvml, device

START = 1_900_000_000.0  # a fake "now", far from the real one


def show(evd: Evd, ident: str) -> dict[str, object]:
    """``evd show --json ID`` as a dict."""
    shown: dict[str, object] = json.loads(evd.cli("show", "--json", ident, check=True).stdout)
    return shown


def fake_gpus(
    evd: Evd,
    count: int,
    memory: int = 24 * GIB,
    *,
    system: dict[str, Any] | None = None,
    **fields: Any,
) -> FakeNvml:
    """``count`` GPUs for the daemon ``evd`` starts next: the fake NVML, through nvidia-ml-py.

    ``fields`` set every device's state (``reserved``, ``compute``...), ``system``
    the top level (``nvlink``, ``driver_version``...).
    """
    path = evd.home.with_name(evd.home.name + "-nvml.json")
    nvml = FakeNvml(path, [device(i, memory, **fields) for i in range(count)], **(system or {}))
    evd.env.pop("EVD_FAKE_GPUS", None)
    evd.env.update(nvml.env())
    return nvml


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


class FakeQueue:
    """A stand-in for dispatch as admission sees it (``RunQueue``): it records, starts nothing."""

    def __init__(self) -> None:
        self.queued: list[int] = []
        self.ticks = 0
        self.live: set[int] = set()

    def enqueue(self, record: RunRecord) -> None:
        self.queued.append(record.id)

    def dequeue(self, run_id: int) -> bool:
        if run_id in self.queued:
            self.queued.remove(run_id)
            return True
        return False

    def tick(self) -> None:
        self.ticks += 1

    def is_live(self, run_id: int) -> bool:
        return run_id in self.live


class Parts:
    """A ledger over a real store, with what it published and whom it told of run ends."""

    def __init__(self, tmp_path: Path) -> None:
        self.state = StateDir(tmp_path / "home")
        self.state.ensure()
        self.store = Store(self.state.database)
        self.clock = FakeClock()
        self.bus = EventBus()
        self.failures: list[StorageError] = []
        self.ended: list[tuple[str, int, RunState]] = []
        self.ledger = Ledger(
            self.state,
            self.store,
            self.bus,
            payload=lambda event: {"run_id": event.run_id, "state": event.state.value},
            on_failure=self.failures.append,
            clock=self.clock,
        )

    def add(self, *, policy: dict[str, Any] | None = None) -> RunRecord:
        run_id = self.ledger.insert(
            at=self.clock(),
            name="job",
            command=["true"],
            cwd="/",
            env=None,
            priority=0,
            timeout=None,
            policy=policy,
        )
        self.state.run_dir(run_id).mkdir()
        self.ledger.flush()
        return self.ledger.get(run_id)


def on_loop(parts: Parts, scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        parts.ledger.attach(asyncio.get_running_loop())
        await scenario()

    try:
        asyncio.run(main())
    finally:
        parts.store.close()


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


ORDINARY_USER = "evd-test"  # made by the suite when it runs as root, as CI does


def ordinary_user() -> tuple[int, int]:
    """The uid and gid of a user without privileges, for tests that permissions decide.

    Root reads every file and signals every process, so a permission test run
    as root passes whatever the modes are; such tests act as this user.
    """
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root (CI runs as root)")
    try:
        entry = pwd.getpwnam(ORDINARY_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             ORDINARY_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        entry = pwd.getpwnam(ORDINARY_USER)
    return entry.pw_uid, entry.pw_gid


def plain_python() -> str:
    """A Python 3 that any user may run (the suite's own may live in root's home)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no system Python 3 for another user to run")


def run_as_ordinary_user(
    code: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as ``ordinary_user()``, with evd and its pure-Python deps importable."""
    uid, gid = ordinary_user()
    paths = [str(Path(__file__).resolve().parent.parent), *site.getsitepackages()]
    return subprocess.run(
        [plain_python(), "-I", "-c", f"import sys; sys.path[:0] = {paths!r}\n{code}"],
        user=uid, group=gid, extra_groups=[], env={"PATH": "/usr/bin:/bin", **(env or {})},
        cwd="/", capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
