"""Warm workers: long-lived processes, each serving many runs of one job (``reusable``).

A worker runs ``evd.sdk.worker`` under a shim of its own, in
``$EVD_HOME/workers/ID/`` (its log, its ``requests`` and ``events`` FIFOs, a
copy of the job's code), with the resources of the run it was started for.
This part starts workers, knows which run each serves, reads what they say
(``idle RUN``), ends them, and at a start retires those a previous daemon left
(each finishes the request it has, then exits). Where a worker's resources are
counted and which run it gets is ``evd.daemon.core.warm``'s business; it hears
of idle and ended workers through ``on_idle`` and ``on_exit``.

Runtime only: a daemon that restarts retires the workers it finds instead of
adopting them (their runs, under their own shims, are adopted as any run).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evd.daemon.submit.prepared import CODE_DIR
from evd.resources.pool import Allocation
from evd.runner import stop as stopper
from evd.runner.shim import is_shim_of, read_shim_pid
from evd.runner.spawn import spawn
from evd.runner.warm import make_worker_folder, tell_to_exit
from evd.runner.watch import ExitWatcher
from evd.sdk.worker import EVENTS

log = logging.getLogger("evd.workers")

LAUNCH_MODULE = "evd.sdk.launch"
RUN_ONLY = ("EVD_RUN_ID", "EVD_OUTPUT_DIR", "EVD_GROUP", "EVD_GROUP_INDEX")  # a call gets them


@dataclass
class Worker:
    """One warm worker: what it runs, what it holds, and what it is doing."""

    id: int
    key: str  # the job's identity: runs with this key may be handed to it
    name: str  # the job's name
    source: str  # the job's file: a worker of another version of it retires
    folder: Path
    pid: int  # its shim's (the process group's)
    allocation: Allocation  # what it holds, under ``pool_id``
    idle_ttl: float
    replicas: int
    started_at: float
    serving: int | None = None  # the run it is serving
    last_run: int | None = None  # the last run handed to it
    finished_run: int | None = None  # the last run it said it finished
    runs: int = 0
    retiring: bool = False
    timer: asyncio.TimerHandle | None = None
    events: int | None = field(default=None, repr=False)  # the events FIFO, read by evd

    @property
    def pool_id(self) -> int:
        """The id its resources are held under in the pool (runs' ids are positive)."""
        return -self.id

    @property
    def state(self) -> str:
        """``serving``, ``idle``, ``stopping`` (a stopped call still returning) or ``retiring``."""
        if self.retiring:
            return "retiring"
        if self.serving is not None:
            return "serving"
        return "idle" if self.idle else "stopping"

    @property
    def idle(self) -> bool:
        """Whether it may take a run now: serving none, done with the last, not retiring."""
        return self.serving is None and self.finished_run == self.last_run and not self.retiring


class Workers:
    """The live workers, by id and by the run each serves."""

    def __init__(
        self, root: Path, kill_grace: float, clock: Callable[[], float] = time.time
    ) -> None:
        """Keep workers' folders under ``root``; a stopped call gets ``kill_grace`` s to return."""
        self.root = root
        self.kill_grace = kill_grace
        self.clock = clock
        self.on_idle: Callable[[Worker], None] = lambda _worker: None
        self.on_exit: Callable[[Worker], None] = lambda _worker: None
        self._all: dict[int, Worker] = {}
        self._serving: dict[int, Worker] = {}
        self._next_id = 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: ExitWatcher | None = None

    def start(self, loop: asyncio.AbstractEventLoop, watcher: ExitWatcher) -> None:
        """Watch workers on ``loop``; retire what a previous daemon left, clear dead folders."""
        self._loop, self._watcher = loop, watcher
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if not folder.name.isdigit():
                continue
            self._next_id = max(self._next_id, int(folder.name) + 1)
            pid = read_shim_pid(folder)
            if pid is not None and is_shim_of(pid, folder):
                if not tell_to_exit(folder):
                    stopper.signal_job(pid, signal.SIGTERM, [])
                log.info("retiring worker %s, left by an earlier daemon", folder.name)
            else:
                shutil.rmtree(folder, ignore_errors=True)

    def __iter__(self) -> Iterator[Worker]:
        """The live workers."""
        return iter(list(self._all.values()))

    def get(self, worker_id: int) -> Worker | None:
        """The live worker ``worker_id``, if any."""
        return self._all.get(worker_id)

    def serving(self, run_id: int) -> Worker | None:
        """The worker serving ``run_id``, if any."""
        return self._serving.get(run_id)

    # -- starting and handing runs over ----------------------------------------------------

    def spawn(
        self,
        run_id: int,
        *,
        run_dir: Path,
        command: list[str],
        env: dict[str, str],
        allocation: Allocation,
        settings: dict[str, object],
    ) -> Worker:
        """Start a worker for the job ``command`` runs (``evd.sdk.launch``), serving ``run_id``.

        ``settings`` is the run's ``worker`` spec: key, name, idle_ttl, replicas.
        """
        worker_id = self._next_id
        self._next_id += 1
        folder = self.root / str(worker_id)
        code, own = run_dir / CODE_DIR, folder / CODE_DIR
        launch = command[command.index(LAUNCH_MODULE) + 1 :]
        head = launch[: launch.index("--")] if "--" in launch else launch
        argv = [command[0], "-m", "evd.sdk.worker", str(folder)]
        argv += [word.replace(str(code), str(own), 1) for word in head]
        # Not a run's variables: evd's sampler reads a process's run from its start
        # environment, and a worker outlives the run it was started for.
        env = {
            **{name: value for name, value in env.items() if name not in RUN_ONLY},
            "EVD_WORKER_ID": str(worker_id),
            "EVD_RUN_DIR": str(folder),
            "EVD_DAEMON_PID": str(os.getpid()),  # it exits when evd is gone
            "EVD_KILL_GRACE": f"{self.kill_grace:g}",
        }
        events = None
        try:
            make_worker_folder(folder)
            if code.is_dir():
                shutil.copytree(code, own, symlinks=True)
            events = os.open(folder / EVENTS, os.O_RDWR | os.O_NONBLOCK)
            pid = spawn(folder, str(own if own.is_dir() else folder), argv, env)
        except BaseException:
            if events is not None:
                os.close(events)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        worker = Worker(
            id=worker_id,
            key=str(settings["key"]),
            name=str(settings.get("name", "")),
            source=str(settings.get("source", "")),
            folder=folder,
            pid=pid,
            allocation=dataclasses.replace(allocation, run_id=-worker_id, ends_by=None),
            idle_ttl=float(settings.get("idle_ttl", 600.0)),  # type: ignore[arg-type]
            replicas=int(settings.get("replicas", 1)),  # type: ignore[call-overload]
            started_at=self.clock(),
            events=events,
        )
        for other in list(self._all.values()):
            if other.source == worker.source and other.key != worker.key:
                log.info("retiring worker %s: %s changed", other.id, worker.source)
                self.retire(other)  # a serving one finishes its run first
        self._all[worker_id] = worker
        assert self._loop is not None and self._watcher is not None, "Workers.start() first"
        self._loop.add_reader(events, self._read_events, worker)
        self._watcher.watch(pid, lambda _pid: self._exited(worker))
        log.info("worker %s (%s) started, pid %s, for run %s", worker_id, worker.name, pid, run_id)
        self.assign(worker, run_id)
        return worker

    def assign(self, worker: Worker, run_id: int) -> None:
        """``worker`` serves ``run_id`` next."""
        if worker.timer is not None:
            worker.timer.cancel()
            worker.timer = None
        worker.serving = worker.last_run = run_id
        worker.runs += 1
        self._serving[run_id] = worker

    def released(self, run_id: int) -> Worker | None:
        """``run_id`` ended: the worker that served it (still alive), no longer serving it."""
        worker = self._serving.pop(run_id, None)
        if worker is None or worker.id not in self._all:
            return None
        worker.serving = None
        if worker.idle:
            self.on_idle(worker)
        return worker

    def retire(self, worker: Worker) -> None:
        """Ask ``worker`` to exit once its request is done (idle: at once)."""
        if worker.retiring:
            return
        worker.retiring = True
        if worker.timer is not None:
            worker.timer.cancel()
            worker.timer = None
        if not tell_to_exit(worker.folder):
            stopper.signal_job(worker.pid, signal.SIGTERM, [])

    def idle_for(self, worker: Worker, seconds: float) -> None:
        """Retire ``worker`` if it stays idle ``seconds``."""
        assert self._loop is not None
        if worker.timer is not None:
            worker.timer.cancel()
        worker.timer = self._loop.call_later(seconds, self._idle_too_long, worker)

    def stop_all(self) -> None:
        """Ask every worker to exit once its request is done (evd is stopping: none stays idle)."""
        for worker in self._all.values():
            if worker.timer is not None:
                worker.timer.cancel()
            if worker.events is not None and self._loop is not None:
                self._loop.remove_reader(worker.events)
            tell_to_exit(worker.folder)

    # -- what workers say, and their ends --------------------------------------------------

    def _idle_too_long(self, worker: Worker) -> None:
        worker.timer = None
        if worker.idle:
            log.info("worker %s idle for %ss: retiring it", worker.id, worker.idle_ttl)
            self.retire(worker)

    def _read_events(self, worker: Worker) -> None:
        assert worker.events is not None
        try:
            data = os.read(worker.events, 4096)
        except BlockingIOError:
            return
        for line in data.decode(errors="replace").splitlines():
            word, _, run = line.partition(" ")
            if word == "idle" and run.isdigit():
                worker.finished_run = int(run)
        if worker.idle:
            self.on_idle(worker)

    def _exited(self, worker: Worker) -> None:
        """``worker``'s shim ended: forget it, then tell ``on_exit`` (it may hold a run)."""
        self._all.pop(worker.id, None)
        if worker.serving is not None:
            self._serving.pop(worker.serving, None)
        if worker.timer is not None:
            worker.timer.cancel()
        if worker.events is not None:
            if self._loop is not None:
                self._loop.remove_reader(worker.events)
            with contextlib.suppress(OSError):
                os.close(worker.events)
            worker.events = None
        log.info("worker %s (%s) ended after %s run(s)", worker.id, worker.name, worker.runs)
        self.on_exit(worker)
        if worker.retiring and worker.serving is None:
            shutil.rmtree(worker.folder, ignore_errors=True)
