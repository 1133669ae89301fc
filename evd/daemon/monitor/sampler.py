"""Sampling what running jobs use: CPU, memory of the whole process tree, GPU memory.

``Sampler.sample`` runs off the event loop (psutil and NVML read ``/proc`` and
the driver) and returns a ``Snapshot``; usage applies it on the loop:
metrics, memory limits, GPU over-use, the devices' outside use and health.

A GPU process belongs to a run if it is in the run's process tree, or if its
environment says ``EVD_RUN_ID`` of this evd home: a process that left the tree
(a new session, a double fork) keeps its environment. A process of a run that
has ended is *lingering*: its device is not handed out until it is gone.

The daemon is the subreaper of its jobs' orphans (``evd.runner.leftovers``):
a process that left its run's tree became the daemon's child. Such a child of
a live run is counted with its run; one of an ended run is a *leftover*, which
usage has stopped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil

from evd.resources.devices import Gpu
from evd.resources.probe import GpuProbe
from evd.runner.shim import SHIM_MARKER


@dataclass
class RunSample:
    """One run's use at one moment."""

    cpu_percent: float = 0.0  # 100 = one core busy
    rss: int = 0  # resident memory of every process of the job, in bytes
    gpu_memory: dict[int, int] = field(default_factory=dict)  # device -> bytes its processes hold


@dataclass
class Snapshot:
    """Everything one sample found."""

    at: float
    runs: dict[int, RunSample]
    gpus: list[Gpu]
    external: dict[int, int]  # device -> bytes held by processes outside evd
    lingering: dict[int, dict[int, int]]  # device -> {pid: run id} of runs no longer live
    leftovers: dict[int, list[int]] = field(default_factory=dict)  # ended run -> its orphans
    disk: dict[int, int] = field(default_factory=dict)  # run -> bytes its folder holds (if due)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _is_shim(process: psutil.Process) -> bool:
    try:
        argv = process.cmdline()
    except psutil.Error:
        return False
    return len(argv) > 3 and argv[3] == SHIM_MARKER


def _reaped(child: psutil.Process) -> bool:
    """Reap ``child`` if it is a zombie (an orphan the daemon adopted, seen alive before).

    Only such orphans: the daemon's other children are reaped by whoever started them.
    """
    try:
        if child.status() != psutil.STATUS_ZOMBIE:
            return False
        os.waitpid(child.pid, os.WNOHANG)
    except (psutil.Error, ChildProcessError):
        pass
    return True


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    # children_*: children already reaped, whose time would otherwise vanish from the sum.
    return float(times.user + times.system + times.children_user + times.children_system)


class Sampler:
    """Reads the process trees of live runs and the GPUs' processes."""

    def __init__(self, probe: GpuProbe, home: str) -> None:
        """Sample with ``probe``; ``home`` tells this evd's jobs from another's."""
        self.probe = probe
        self.home = home
        self._cpu: dict[int, tuple[float, float]] = {}  # run -> (monotonic time, CPU seconds)
        self._adopted: set[int] = set()  # orphans of runs seen alive: reaped once they end

    def sample(self, live: dict[int, int], also: dict[int, int] | None = None) -> Snapshot:
        """Sample every live run (``run id -> shim pid``) and the GPUs.

        ``also``: another process tree a run's work happens in (the warm worker
        serving it: ``run id -> the worker's shim pid``), counted with the run.
        """
        also = also or {}
        now = time.monotonic()
        runs: dict[int, RunSample] = {}
        owner: dict[int, int] = {}  # pid -> run id
        orphans: dict[int, list[int]] = {}  # run id -> the daemon's children that are its
        for orphan, run_id in self._orphans(set(live.values())).items():
            orphans.setdefault(run_id, []).append(orphan)
        for run_id, pid in live.items():
            sample = RunSample()
            cpu = 0.0
            roots = (pid, *orphans.get(run_id, ()), *([also[run_id]] if run_id in also else []))
            trees = [_tree(root) for root in roots]
            for process in (process for tree in trees for process in tree):
                try:
                    with process.oneshot():
                        sample.rss += process.memory_info().rss
                        cpu += _cpu_seconds(process)
                except psutil.Error:
                    continue
                owner[process.pid] = run_id
            last = self._cpu.get(run_id)
            if last is not None and now > last[0]:
                sample.cpu_percent = max(0.0, 100.0 * (cpu - last[1]) / (now - last[0]))
            self._cpu[run_id] = (now, cpu)
            runs[run_id] = sample
        for run_id in list(self._cpu):
            if run_id not in live:
                del self._cpu[run_id]
        gpus = self.probe.read()
        external: dict[int, int] = {}
        lingering: dict[int, dict[int, int]] = {}
        for gpu in gpus:
            ours = 0
            for user in gpu.processes:
                owner_id = owner.get(user.pid) or self._run_of(user.pid)
                used = user.used_memory or 0
                if owner_id is None:
                    continue
                ours += used
                if owner_id in runs:
                    memory = runs[owner_id].gpu_memory
                    memory[gpu.index] = memory.get(gpu.index, 0) + used
                else:
                    lingering.setdefault(gpu.index, {})[user.pid] = owner_id
            external[gpu.index] = max(0, gpu.memory_used - ours)
        leftovers = {run_id: pids for run_id, pids in orphans.items() if run_id not in live}
        return Snapshot(time.time(), runs, gpus, external, lingering, leftovers)

    def _orphans(self, shims: set[int]) -> dict[int, int]:
        """The daemon's children that are processes of runs (``pid -> run id``), shims aside."""
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return {}
        found = {}
        for child in children:
            if child.pid in shims or _is_shim(child):  # a run started since `live` was read
                continue
            if child.pid in self._adopted and _reaped(child):
                self._adopted.discard(child.pid)
                continue
            run_id = self._run_of(child.pid)
            if run_id is not None:
                found[child.pid] = run_id
                self._adopted.add(child.pid)
        self._adopted &= {child.pid for child in children}
        return found

    def _run_of(self, pid: int) -> int | None:
        """The evd run a process was started for, from its environment (``None``: not ours)."""
        if pid == os.getpid():
            return None
        try:
            environ = psutil.Process(pid).environ()
        except (psutil.Error, OverflowError):  # NVML's pids are unsigned: 2**31 and up exist
            return None
        if environ.get("EVD_HOME") != self.home:
            return None
        try:
            return int(environ["EVD_RUN_ID"])
        except (KeyError, ValueError):
            return None
