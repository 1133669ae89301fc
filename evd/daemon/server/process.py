"""The daemon process: take the lock, clean up after a crashed predecessor, serve.

The pid file doubles as the lock: the daemon holds an ``flock`` on it for its
whole life, so the kernel drops the lock when the daemon dies however it dies,
and a leftover pid file or socket is known to be stale exactly when the lock
can be taken. Its descriptor is close-on-exec, so jobs never inherit it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from evd.daemon.engine import Engine
from evd.daemon.envs.envmanager import Environments
from evd.daemon.server.app import create_app
from evd.daemon.server.config import load_config
from evd.daemon.server.httpgate import (
    TOKEN_FILE,
    Listen,
    ListenError,
    TokenGate,
    load_token,
    parse_listen,
)
from evd.daemon.triggers.notify import Notifier, read_settings
from evd.errors import DaemonAlreadyRunning
from evd.paths import StateDir
from evd.resources.memlimit import detect
from evd.runner.leftovers import become_subreaper
from evd.runner.spawn import keep_files_private
from evd.sockets import reachable_path
from evd.store import Store

log = logging.getLogger("evd.daemon")

LOCK_ATTEMPTS = 10


@contextlib.contextmanager
def pid_lock(state: StateDir) -> Iterator[None]:
    """Hold the state dir's lock and pid file for the duration; refuse if another daemon has it."""
    fd = os.open(state.pid_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    # `evd down` probes the lock with a brief shared hold: retry for a moment
    # before concluding that another daemon owns it.
    for attempt in range(LOCK_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt + 1 < LOCK_ATTEMPTS:
                time.sleep(0.02)
    else:
        other = os.read(fd, 64).decode(errors="replace").split("\n")[0].strip()
        os.close(fd)
        raise DaemonAlreadyRunning(f"evd is already running (pid {other}) in {state.root}")
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            state.pid_file.unlink()
        os.close(fd)


def bind_socket(state: StateDir) -> socket.socket:
    """Bind the API socket with mode 0600 from the first instant (umask, not chmod)."""
    with contextlib.suppress(FileNotFoundError):
        state.socket.unlink()  # stale: we hold the lock, so no daemon owns it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        with reachable_path(state.socket) as path:
            sock.bind(path)
    finally:
        os.umask(old_umask)
    sock.listen(512)
    return sock


def bind_tcp(listen: Listen) -> socket.socket:
    """Bind the HTTP trigger's port (``ListenError`` saying why it cannot be had)."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as error:
        sock.close()
        raise ListenError(f"the HTTP trigger cannot listen on {listen}: {error.strerror}") from None
    sock.listen(512)
    return sock


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        loop="none",
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the daemon decides how to stop), ticking slower.

    uvicorn's own loop wakes ten times a second to see whether to stop; this
    one wakes once a second (to refresh the ``Date`` header) and at once when
    ``exit`` is called: an idle daemon should cost nothing.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        """Serve as ``config`` says."""
        super().__init__(config)
        self._exit = asyncio.Event()

    def exit(self) -> None:
        """Stop serving (open requests get uvicorn's graceful shutdown)."""
        self.should_exit = True
        self._exit.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        """Until ``exit``: refresh the ``Date`` header every second."""
        while not await self.on_tick(0):  # tick 0: uvicorn refreshes the headers
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)


def setup_logging(state: StateDir, foreground: bool) -> None:
    """Log to ``evd.log``, and to the terminal when in the foreground."""
    # Detached, stderr already is evd.log (so crashes before logging starts land there too).
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if foreground:
        handlers.append(logging.FileHandler(state.log_file))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


@dataclass(frozen=True)
class DaemonOptions:
    """The daemon's command-line settings (``evd up --help``)."""

    parallel: int | None = None  # None: as many runs as their resources allow
    kill_grace: float = 10.0
    log_limit: int = 100 * 1024 * 1024
    retry_delay: float = 2.0
    sample_interval: float = 1.0
    http: str | None = None  # [HOST:]PORT of the HTTP trigger; None: config's, else off


async def serve(state: StateDir, options: DaemonOptions) -> None:
    """Run the engine and the API until SIGTERM, SIGINT or ``POST /v1/shutdown``."""
    settings = load_config(state.root / "config.toml")
    store = Store(state.database)
    environments = Environments(state, os.environ, settings)
    memory_limits = await asyncio.to_thread(detect, os.environ, options.sample_interval)
    log.info("memory limits: %s", memory_limits.description)
    engine = Engine(
        state,
        store,
        parallel=options.parallel,
        kill_grace=options.kill_grace,
        log_limit=options.log_limit,
        retry_base=options.retry_delay,
        sample_interval=options.sample_interval,
        resources=settings.get("resources", {}),
        memory_limits=memory_limits,
        environments=environments,
        jobs=settings.get("jobs", {}),
    )
    http = options.http or settings.get("http", {}).get("listen")
    listen = parse_listen(str(http)) if http else None
    tcp = bind_tcp(listen) if listen else None  # before any job is touched: a taken port stops here
    notifier = Notifier(engine.board, read_settings(settings.get("notify", {})))
    engine.ledger.on_run_end(notifier.run_ended)
    loop = asyncio.get_running_loop()
    if not become_subreaper():  # then a job's process that leaves its group is not found
        log.warning("evd could not become its jobs' subreaper; escaped processes go unseen")
    engine.start(loop)
    sock = bind_socket(state)
    servers = [(_Server(_config(create_app(engine))), sock)]
    if listen is not None and tcp is not None:
        gate = TokenGate(create_app(engine), load_token(state.root), listen)
        servers.append((_Server(_config(gate)), tcp))
        engine.http = str(listen)
        log.info("HTTP trigger on %s (token in %s)", listen, state.root / TOKEN_FILE)

    def stop() -> None:
        engine.release_clients()
        for server, _ in servers:
            server.exit()

    engine.on_shutdown_request = stop
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop)
    log.info("evd serving on %s (pid %s, %s)", state.socket, os.getpid(), options)
    try:
        await asyncio.gather(*(server.serve(sockets=[bound]) for server, bound in servers))
    finally:
        engine.shutdown()
        store.close()
        with contextlib.suppress(FileNotFoundError):
            state.socket.unlink()
        log.info("evd stopped; %d running job(s) left to their shims", len(engine.dispatch.running))


def run_daemon(state: StateDir, options: DaemonOptions, *, foreground: bool) -> None:
    """Run the daemon in this process until it is told to stop."""
    keep_files_private()  # the database, its WAL, the log, run folders: 0600/0700
    state.ensure()
    with pid_lock(state):
        setup_logging(state, foreground)
        asyncio.run(serve(state, options))
