"""What the app needs from the daemon, and the real thing: evd's own client.

The app is built with a factory that makes a ``Backend``; each worker thread
gets its own (``evd.client.Client`` keeps one connection and is not shared
between threads). Tests pass a factory of a small fake with fixed runs, so
snapshots do not depend on a clock or on process ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from evd.client import Client
from evd.models import (
    EnvInfo,
    Health,
    Run,
    RunState,
    ScheduleInfo,
    SubmitRequest,
    WatchInfo,
)
from evd.models.timeline import Timeline
from evd.paths import StateDir


class Backend(Protocol):
    """The daemon's API as the app uses it (``evd.client.Client`` is one)."""

    def health(self, timeout: float | None = None) -> Health:
        """The daemon's version, pid and newest event id."""

    def list_runs(
        self,
        states: Iterable[RunState] | None = None,
        limit: int | None = None,
        group: int | None = None,
        before: int | None = None,
        text: str | None = None,
        *,
        labels: dict[str, str] | None = None,
    ) -> list[Run]:
        """Runs, newest first."""

    def get_run(self, run_id: int) -> Run:
        """One run with its state changes."""

    def cancel(self, run_id: int) -> Run:
        """Cancel a run."""

    def rerun(self, run_id: int, args: list[str] | None = None) -> Run:
        """Submit what a run ran once more."""

    def submit(self, request: SubmitRequest) -> Run:
        """Queue a job."""

    def logs(
        self, run_id: int, follow: bool = False, offset: int = 0, build: bool = False
    ) -> Iterator[bytes]:
        """The run's log in chunks; with ``follow``, until the run ends."""

    def events(self, after: int | None = None, progress: bool = False) -> Iterator[dict[str, Any]]:
        """Run state changes (and progress) as they happen."""

    def queue(self, limit: int = 10) -> tuple[int, list[Run]]:
        """How many runs wait, and the head of the queue in start order."""

    def metrics(self, run_id: int) -> dict[str, Any]:
        """The run's peaks and sampled series."""

    def result(self, run_id: int) -> Any:
        """The value the run's main returned."""

    def gpus(self) -> dict[str, Any]:
        """The machine's CPUs, memory and GPUs, and the runs holding them."""

    def timeline(self, since: float = 6 * 3600) -> Timeline:
        """Who held each GPU over the last ``since`` seconds, and the planned starts."""

    def list_envs(self) -> list[EnvInfo]:
        """Built environments."""

    def list_watches(self) -> list[WatchInfo]:
        """Watched folders."""

    def list_schedules(self) -> list[ScheduleInfo]:
        """Schedules."""


BackendFactory = Callable[[], Backend]


def daemon_backend(state: StateDir | None = None) -> BackendFactory:
    """A factory of clients of the daemon at ``state`` (default ``$EVD_HOME``)."""
    home = state or StateDir.from_env()
    # Short: a call that hangs would hold a worker thread, and the app says
    # "not answering" rather than waiting for it.
    return lambda: Client(home, timeout=10.0)


class PerThread:
    """One backend per thread, made on first use there (clients are not thread-safe)."""

    def __init__(self, factory: BackendFactory) -> None:
        """Make backends with ``factory``."""
        self._factory = factory
        self._local = threading.local()

    def get(self) -> Backend:
        """The calling thread's backend."""
        backend: Backend | None = getattr(self._local, "backend", None)
        if backend is None:
            backend = self._factory()
            self._local.backend = backend
        return backend
