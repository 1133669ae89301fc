"""A warm worker: one process that loads a job file once and runs many of its runs.

Standard library only. evd starts ``python -m evd.sdk.worker FOLDER FILE
FUNCTION [--path DIR]...`` in the job's venv, under a shim of its own, with the
job's resources (``CUDA_VISIBLE_DEVICES``, thread counts). The file is executed
as ``__main__`` once; what it keeps at module level (a model behind a cached
loader) then serves every run it is handed.

Each run still has its own shim, whose job is a few lines of ``sh``
(``evd.runner.warm.CLIENT``): they write ``PID RUN_DIR`` into the worker's
``requests`` FIFO and wait for the exit code on the run's ``done`` FIFO. For
each request the worker takes the run's words, variables and working directory
from ``RUN_DIR/call.json``, sends its stdout and stderr to the run's log, calls
the function as ``evd.sdk.launch`` does (``result.json``, ``main-exit``), and
writes the exit code into ``done``. So evd supervises, times out, cancels and
records a run on a worker exactly as any other.

Cancel and timeout stop the run's shim and so its client; the worker sees the
client end (a pidfd) and interrupts the call (``KeyboardInterrupt``). A call
that has not returned ``EVD_KILL_GRACE`` seconds later takes the worker down:
only that run is lost, and the next gets a new worker. A line ``exit`` retires
the worker once the requests before it are served. After each request the
worker writes ``idle RUN_ID`` into its ``events`` FIFO, which evd reads.
"""

from __future__ import annotations

import _thread
import contextlib
import json
import os
import select
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from evd.sdk.job import DECLARED
from evd.sdk.launch import call, code_of_exit, load_as_main, parse, record_main_exit

REQUESTS = "requests"  # FIFO: ``PID RUN_DIR`` lines from the runs' clients, or ``exit``
EVENTS = "events"  # FIFO: ``idle RUN_ID`` lines for evd
CALL_FILE = "call.json"  # in a run's folder: its words, variables and working directory
DONE_FIFO = "done"  # in a run's folder: the exit code, for its client
KILLED_CODE = 137
NOT_STARTED = 125  # the shell's code for a command that could not be run
CLIENT_READS = 30.0  # seconds a client gets to read its code (it is reading, or about to)


class Worker:
    """The loaded job, and the loop that serves its runs."""

    def __init__(self, folder: Path, argv: list[str]) -> None:
        """Load the job file named in ``argv`` (as ``evd.sdk.launch`` takes it), once."""
        self.folder = folder
        file, self.function, paths, _item, _words = parse(argv)
        path = Path(file).resolve()
        sys.path[:0] = [str(path.parent), *paths]
        sys.argv = [str(path)]
        self.file = str(path)
        self.grace = float(os.environ.get("EVD_KILL_GRACE", "10"))
        self.home = os.getcwd()
        self.environ = dict(os.environ)
        module = load_as_main(path)
        self.target = getattr(module, self.function, None)
        if not callable(self.target):
            raise SystemExit(f"evd: {path.name} defines no function {self.function!r}")
        if any(job.called for job in DECLARED):
            raise SystemExit(
                f"evd: {path.name} calls its main itself when it is loaded, so a worker"
                " cannot call it once per run; drop `reusable` or the call"
            )
        self.events = _open_events(folder / EVENTS)

    def serve_forever(self) -> None:
        """Serve requests until ``exit``, or until evd is gone and no request waits.

        The FIFO is held open for writing too, so it never reads end-of-file;
        evd's own process is watched (a pidfd), so a daemon killed with -9
        leaves no idle worker behind (a run in flight is finished first: its
        client, under its own shim, is adopted by the next daemon).
        """
        requests = os.open(self.folder / REQUESTS, os.O_RDWR)
        daemon = _pidfd(os.environ.get("EVD_DAEMON_PID", ""))
        watched = [requests] if daemon is None else [requests, daemon]
        pending = b""
        while True:
            ready, _, _ = select.select(watched, [], [])
            chunk = os.read(requests, 65536) if requests in ready else b""
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line == b"exit":
                    return
                pid, _, run_dir = line.decode(errors="replace").partition(" ")
                if pid.isdigit() and run_dir:
                    self.serve(int(pid), Path(run_dir))
                    self._say(f"idle {Path(run_dir).name}")
            if daemon is not None and daemon in ready and not chunk:
                return

    def serve(self, client: int, run_dir: Path) -> None:
        """Run one request: the run of ``run_dir``, whose client is process ``client``."""
        try:
            pidfd = os.pidfd_open(client)
        except OSError:
            return  # its client is gone (cancelled before the worker got to it)
        try:
            request = json.loads((run_dir / CALL_FILE).read_text(encoding="utf-8"))
            (run_dir / CALL_FILE).unlink()  # it holds the run's secrets
            done = os.open(run_dir / DONE_FIFO, os.O_RDWR)  # never blocks; closed if we die
        except (OSError, ValueError) as error:
            print(f"evd: worker: cannot take the run in {run_dir}: {error}", file=sys.stderr)
            os.close(pidfd)
            return
        finished = threading.Event()
        wake_r, wake_w = os.pipe()
        watcher = threading.Thread(
            target=self._watch_client, args=(pidfd, wake_r, finished), daemon=True
        )
        watcher.start()
        code = self._call(run_dir, request)
        finished.set()
        os.write(wake_w, b"x")
        watcher.join()
        for fd in (wake_r, wake_w):
            os.close(fd)
        with contextlib.suppress(OSError):  # the client is gone: cancelled or timed out
            os.write(done, f"{code}\n".encode())
        # A FIFO's data goes with its last open end: ``done`` stays open until the client,
        # which may not have opened it yet (a quick call), has read the code and exited.
        select.select([pidfd], [], [], CLIENT_READS)
        os.close(done)
        os.close(pidfd)

    def _call(self, run_dir: Path, request: dict[str, Any]) -> int:
        """Call the function as the run asks, its output in the run's log; the exit code."""
        _file, function, _paths, item, words = parse(request["argv"])
        try:
            log = os.open(run_dir / "output.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            print(f"evd: worker: cannot write the log in {run_dir}: {error}", file=sys.stderr)
            return NOT_STARTED
        saved = _point_output(log)
        os.close(log)
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [self.file, *words]
        try:
            try:
                os.chdir(request["cwd"])
            except OSError as error:
                print(f"evd: cannot enter the working directory: {error}", file=sys.stderr)
                return NOT_STARTED
            try:
                code = call(self.target, function, words, item)
            except SystemExit as exit:
                code = code_of_exit(exit)
            except KeyboardInterrupt:
                print("evd: the call was interrupted (the run was stopped)", file=sys.stderr)
                code = 130
            except BaseException as error:  # the job's own error: this run fails, not the worker
                sys.excepthook(type(error), error, error.__traceback__)
                code = 1
            record_main_exit(code)
        except KeyboardInterrupt:  # stopped between the call and its record
            code = 130
        finally:
            os.chdir(self.home)
            os.environ.clear()
            os.environ.update(self.environ)
            _restore_output(saved)
        return code

    def _watch_client(self, pidfd: int, wake: int, finished: threading.Event) -> None:
        """Interrupt the call if the run's client ends first; exit if it outlives the grace."""
        ready, _, _ = select.select([pidfd, wake], [], [])
        if finished.is_set() or pidfd not in ready:
            return
        _thread.interrupt_main()
        if not finished.wait(self.grace):
            os.write(2, b"evd: worker: a stopped run's call did not return in time; exiting\n")
            os._exit(KILLED_CODE)

    def _say(self, event: str) -> None:
        """Tell evd (best effort: a daemon that restarted no longer listens)."""
        if self.events is not None:
            with contextlib.suppress(OSError):
                os.write(self.events, f"{event}\n".encode())


def _pidfd(pid: str) -> int | None:
    """A pidfd of process ``pid`` (``None`` if it is not there)."""
    try:
        return os.pidfd_open(int(pid))
    except (OSError, ValueError):
        return None


def _open_events(path: Path) -> int | None:
    """The events FIFO for writing, if evd holds it open for reading."""
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()


def _point_output(fd: int) -> tuple[int, int]:
    """Point fds 1 and 2 at ``fd``; return copies of what they were."""
    _flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    return saved


def _restore_output(saved: tuple[int, int]) -> None:
    """Point fds 1 and 2 back at what ``_point_output`` saved."""
    _flush()
    for target, fd in enumerate(saved, start=1):
        os.dup2(fd, target)
        os.close(fd)


def main(argv: list[str]) -> int:
    """``FOLDER FILE FUNCTION [--path DIR]...``: load once, then serve runs until told to exit."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a client gone must not take the worker down
    worker = Worker(Path(argv[0]), argv[1:])
    worker.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
