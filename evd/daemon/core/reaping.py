"""Stopping what a run's job left running, before the run's resources are given back.

When a job's main process ends, whatever it started and left running (a
``sleep 300 &``, a server it forked) would otherwise keep the CPUs, memory and
GPUs that the next run is handed. As Slurm does at a job's end, evd stops
them: SIGTERM, then SIGKILL after the run's kill grace, watching each process
through a pidfd (so a reused pid is never signalled), and says in the run's
log what it stopped. A job that means to leave a daemon behind declares
``--keep-children``; its leftovers are named in its log and left alone.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import psutil

from evd.runner.leftovers import Leftover, command_of, group_members, still_running
from evd.runner.logcap import note_in_log
from evd.runner.watch import ExitWatcher


def _named(leftovers: list[Leftover]) -> str:
    count = len(leftovers)
    listed = ", ".join(f"{p.command} (pid {p.pid})" for p in leftovers[:5])
    more = f" and {count - 5} more" if count > 5 else ""
    return f"{count} process{'es' if count != 1 else ''} the job left running: {listed}{more}"


class Reaper:
    """Stops leftover processes and calls back once they are all gone."""

    def __init__(self, loop: asyncio.AbstractEventLoop, watcher: ExitWatcher, grace: float) -> None:
        """Watch with ``watcher`` on ``loop``; SIGKILL what outlives SIGTERM by ``grace`` s."""
        self._loop = loop
        self._watcher = watcher
        self._grace = grace
        self._handled: set[int] = set()  # leftovers being stopped or kept, by pid

    def found_late(self, run_dir: Path, pids: list[int], *, keep: bool) -> None:
        """Processes of an ended run found after its end (they had left its process group)."""
        new = [Leftover(pid, command_of(pid)) for pid in pids if pid not in self._handled]
        if not new:
            return
        if keep:
            note_kept(run_dir, new)
            for process in new:  # the daemon is their parent now: reap them when they end
                self._handled.add(process.pid)
                self._watcher.watch(process.pid, self._handled.discard)
            return
        self.stop(run_dir, new, lambda: None, when=", found after it ended")

    def after_exit(
        self,
        run_dir: Path,
        pgid: int,
        strays: list[psutil.Process],
        *,
        keeps: Callable[[], bool],
        then: Callable[[], None],
    ) -> None:
        """Once a job's shim ended: stop what is left of it (unless ``keeps()``), then ``then()``.

        ``then`` runs at once when nothing is left, the common case: one system call.
        """
        left = group_members(pgid) + still_running(strays, pgid)
        if not left:
            then()
            return
        if keeps():
            note_kept(run_dir, left)
            then()
            return
        self.stop(run_dir, left, then)

    def stop(
        self,
        run_dir: Path,
        leftovers: list[Leftover],
        then: Callable[[], None],
        when: str = "",
    ) -> None:
        """SIGTERM ``leftovers``, SIGKILL them after the grace, then note it and call ``then``.

        ``when`` qualifies the note ("after it ended" for processes found late).
        """
        pending = {process.pid for process in leftovers}
        self._handled.update(pending)
        killed = False

        def kill() -> None:
            nonlocal killed
            killed = True
            for pid in list(pending):
                self._watcher.send_signal(pid, signal.SIGKILL)

        timer = self._loop.call_later(self._grace, kill)

        def gone(pid: int) -> None:
            pending.discard(pid)
            self._handled.discard(pid)
            if pending:
                return
            timer.cancel()
            how = f" (SIGKILL after the {self._grace:g} s grace)" if killed else ""
            note_in_log(run_dir, f"evd: stopped {_named(leftovers)}{when}{how}")
            then()

        for process in leftovers:
            self._watcher.watch(process.pid, gone)
            self._watcher.send_signal(process.pid, signal.SIGTERM)


def note_kept(run_dir: Path, leftovers: list[Leftover]) -> None:
    """Say in the run's log which leftovers stay, as the job asked (``--keep-children``)."""
    note_in_log(run_dir, f"evd: left {_named(leftovers)} (it keeps its children)")
