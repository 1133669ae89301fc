"""What running jobs use, acted on: metrics, memory limits, GPU over-use, device state.

Every ``--sample-interval`` seconds (and at once after a GPU run ends) the
``Sampler`` reads the process trees and the GPUs off the loop; ``apply`` then,
on the loop:

* adds a point to each running run's metrics (peaks and series);
* stops a job whose process tree holds more resident memory than its
  ``memory`` request (``memory``), at once with SIGKILL as the kernel would;
* flags a job whose processes hold more GPU memory on a device than it asked
  for (a line in its log, ``gpu_overuse`` in its metrics), and stops it
  (``gpu-memory``) when ``[resources] stop_gpu_overuse`` is set;
* counts memory that processes outside evd hold on each device against what
  runs may claim there, and drains a device NVML reports unhealthy;
* keeps a device out of use while a process of a run that has ended still
  holds it (one that escaped the run's process group), and stops that process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from evd.daemon.monitor.disk import EVERY as DISK_EVERY
from evd.daemon.monitor.disk import DiskMeter
from evd.daemon.monitor.metrics import SERIES_FILE, RunMetrics
from evd.daemon.monitor.progress import ProgressReader
from evd.daemon.monitor.sampler import Sampler, Snapshot
from evd.errors import StorageError
from evd.resources.pool import Pool
from evd.runner.logcap import note_in_log
from evd.store import RunRecord
from evd.units import GIB, format_size

log = logging.getLogger("evd.usage")

HARD_STOPS = frozenset({"memory", "gpu-memory", "disk"})
# Seconds between samples while nothing is live, settling or left over (the
# interval's own while anything is): each sample walks /proc for the daemon's
# children, which was most of an idle daemon's CPU.
IDLE_INTERVAL = 5.0


def _gib(size: int) -> str:
    return f"{size / GIB:.2f} GiB"


def over_limit_reason(
    stopping: str | None, record: RunRecord, peaks: dict[str, Any], oom_kills: int = 0
) -> str | None:
    """Why a run was stopped over a limit, from its request and its peaks (``None``: it was not).

    ``oom_kills``: processes the kernel killed for memory in the run's systemd scope.
    """
    if oom_kills:
        limit = int((record.resources or {}).get("memory", 0))
        plural = "es" if oom_kills != 1 else ""
        return (
            f"exceeded its memory limit of {_gib(limit)} (the kernel killed {oom_kills}"
            f" process{plural}; ask for more with --memory)"
        )
    if stopping == "memory":
        limit = int((record.resources or {}).get("memory", 0))
        return (
            f"exceeded its memory limit of {_gib(limit)}: its processes held"
            f" {_gib(int(peaks.get('rss', 0)))}; evd stopped it (ask for more with --memory)"
        )
    if stopping == "disk":
        limit = int((record.resources or {}).get("disk", 0))
        return (
            f"exceeded its disk limit of {format_size(limit)}: its folder held"
            f" {format_size(int(peaks.get('disk', 0)))}; evd stopped it (ask for more with --disk)"
        )
    if stopping == "gpu-memory":
        return (
            f"{peaks.get('gpu_overuse', 'used more GPU memory than it asked for')}; evd stopped it"
        )
    return None


class Running(Protocol):
    """A live run as the sampler reads it."""

    @property
    def pid(self) -> int:
        """The shim's pid (the job's process group)."""

    @property
    def run_dir(self) -> Path:
        """The run's folder."""

    @property
    def stopping(self) -> str | None:
        """Why evd is stopping it, once it is."""

    @property
    def disk(self) -> int:
        """Bytes its folder may hold (0: no disk claim)."""


class Supervised(Protocol):
    """What usage may read and ask of the runs evd supervises (dispatch provides it)."""

    @property
    def running(self) -> Mapping[int, Running]:
        """The live runs by id."""

    @property
    def pool(self) -> Pool:
        """Who holds what; the devices, whose outside use and problems usage keeps current."""

    def progress_seen(self, reports: dict[int, dict[str, Any]]) -> None:
        """New progress of running runs."""

    def stop_over_limit(self, run_id: int, why: str) -> None:
        """Stop a run that went over a limit."""

    def wake(self) -> None:
        """Something was freed: start what now fits."""

    def stop_leftovers(self, run_id: int, pids: list[int]) -> None:
        """Stop processes of a run that has ended (found after its end)."""


class Usage:
    """The sampling loop and what it decides (on the daemon's loop)."""

    def __init__(self, sampler: Sampler, *, interval: float, stop_gpu_overuse: bool) -> None:
        """Sample every ``interval`` s; stop GPU over-users only if ``stop_gpu_overuse``.

        ``supervise`` says whose runs, before ``start``.
        """
        self.sampler = sampler
        self.interval = interval
        self._supervised: Supervised | None = None
        self.stop_gpu_overuse = stop_gpu_overuse
        self.disk_meter = DiskMeter(every=max(interval, min(DISK_EVERY, 2 * interval)))
        self.metrics: dict[int, RunMetrics] = {}  # runtime only: peaks also go to the store
        self.progress = ProgressReader()
        self.latest: Snapshot | None = None
        self._idle = False  # the last sample found nothing to watch: the next comes later
        self.pace = interval  # seconds to the next sample, as last scheduled
        self._settling: dict[int, tuple[float, int]] = {}  # device -> (since, run that ended)
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight = False
        self._again = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # The shim of the warm worker serving a run, if any (set at wiring).
        self.worker_of: Callable[[int], int | None] = lambda _run_id: None

    @property
    def supervised(self) -> Supervised:
        """Whose runs are sampled (after ``supervise``)."""
        assert self._supervised is not None, "Usage.supervise() first"
        return self._supervised

    def supervise(self, supervised: Supervised) -> None:
        """Sample ``supervised``'s runs and act on them."""
        self._supervised = supervised

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin sampling on ``loop``."""
        self._loop = loop
        self.sample_now()

    def stop(self) -> None:
        """Stop sampling (the daemon is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
        self._loop = None

    def reset(self) -> None:
        """Forget per-run state (recovery is rebuilding the runtime state)."""
        self._settling.clear()

    def sample_now(self) -> None:
        """Sample as soon as possible (one sample at a time; a request meanwhile runs next)."""
        if self._loop is None:
            return
        if self._in_flight:
            self._again = True
            return
        if self._timer is not None:
            self._timer.cancel()
        self._in_flight = True
        running = self.supervised.running
        live = {run_id: run.pid for run_id, run in running.items()}
        dirs = {run_id: run.run_dir for run_id, run in running.items()}
        also = {run_id: pid for run_id in running if (pid := self.worker_of(run_id)) is not None}
        claims = {run_id: run.run_dir for run_id, run in running.items() if run.disk}
        started = time.monotonic()

        def read() -> tuple[Snapshot, dict[int, dict[str, Any]]]:
            snapshot = self.sampler.sample(live, also)
            snapshot.disk = self.disk_meter.measure(claims)
            return snapshot, self.progress.read(dirs)

        future = self._loop.run_in_executor(None, read)
        future.add_done_callback(lambda done: self._sampled(done, started))

    def _sampled(
        self, done: asyncio.Future[tuple[Snapshot, dict[int, dict[str, Any]]]], started: float
    ) -> None:
        self._in_flight = False
        if self._loop is None:
            return
        try:
            snapshot, progress = done.result()
            self.supervised.progress_seen(progress)
            self.apply(snapshot, started)
        except StorageError:
            pass  # degraded; the next sample tries again
        except Exception:
            log.exception("sampling failed; trying again at the next interval")
        if self._again:
            self._again = False
            self.sample_now()
            return
        # Nothing to watch (no live run, no device settling, no leftover): sample
        # slowly, so an idle daemon costs next to nothing; a run going live wakes it.
        self._idle = not self.supervised.running and not self._settling and not self._lingering()
        self.pace = max(self.interval, IDLE_INTERVAL) if self._idle else self.interval
        self._timer = self._loop.call_later(self.pace, self.sample_now)

    def _lingering(self) -> bool:
        latest = self.latest
        return latest is None or bool(latest.lingering or latest.leftovers)

    def run_went_live(self) -> None:
        """A run started (or was re-adopted): sample at the normal pace again."""
        if self._idle and self._loop is not None and not self._in_flight:
            self._idle = False
            if self._timer is not None:
                self._timer.cancel()
            self.pace = self.interval
            self._timer = self._loop.call_later(self.interval, self.sample_now)

    def settle(self, devices: tuple[int, ...], run_id: int) -> None:
        """A run that held ``devices`` ended: keep them out of use until a sample clears them."""
        now = time.monotonic()
        for index in devices:
            self._settling[index] = (now, run_id)
            device = self.supervised.pool.devices.get(index)
            if device is not None and device.problem is None:
                device.problem = f"checking that run {run_id}'s processes have left it"
        self.sample_now()

    def finish(self, run_id: int) -> dict[str, Any] | None:
        """The peaks of a run that ended (``None`` if it was never sampled)."""
        metrics = self.metrics.pop(run_id, None)
        return metrics.peaks if metrics is not None and metrics.peaks else None

    def peaks(self, run_id: int) -> dict[str, Any] | None:
        """A running run's peaks so far."""
        metrics = self.metrics.get(run_id)
        return dict(metrics.peaks) if metrics is not None else None

    # -- acting on a snapshot --------------------------------------------------------

    def apply(self, snapshot: Snapshot, started: float) -> None:
        """Record the metrics of ``snapshot`` and act on what it shows."""
        self.latest = snapshot
        for run_id, pids in snapshot.leftovers.items():
            self.supervised.stop_leftovers(run_id, pids)
        for run_id, sample in snapshot.runs.items():
            live = self.supervised.running.get(run_id)
            if live is None:
                continue
            metrics = self.metrics.get(run_id)
            if metrics is None:
                metrics = self.metrics[run_id] = RunMetrics(live.run_dir / SERIES_FILE)
            metrics.add(snapshot.at, sample)
            if run_id in snapshot.disk:
                metrics.peaks["disk"] = max(metrics.peaks.get("disk", 0), snapshot.disk[run_id])
            if live.stopping is None:
                self._check_limits(run_id, metrics)
        if self._update_devices(snapshot, started):
            self.supervised.wake()

    def disk_used(self, run_id: int) -> int:
        """What a running run's folder held when last measured (0: not measured)."""
        metrics = self.metrics.get(run_id)
        return int(metrics.peaks.get("disk", 0)) if metrics is not None else 0

    def _check_limits(self, run_id: int, metrics: RunMetrics) -> None:
        allocation = self.supervised.pool.held.get(run_id)
        if allocation is None:
            return
        live = self.supervised.running.get(run_id)
        if live is not None and live.disk and metrics.peaks.get("disk", 0) > live.disk:
            log.info("run %s is over its disk limit; stopping it", run_id)
            self.supervised.stop_over_limit(run_id, "disk")
            return
        if allocation.memory and metrics.peaks.get("rss", 0) > allocation.memory:
            log.info("run %s is over its memory limit; stopping it", run_id)
            self.supervised.stop_over_limit(run_id, "memory")
            return
        claim = allocation.gpu_memory
        if not claim or "gpu_overuse" in metrics.peaks:
            return
        for index, used in metrics.peaks.get("gpu_memory", {}).items():
            if used > claim:
                note = (
                    f"held {_gib(used)} of GPU memory on GPU{index}, more than the"
                    f" {_gib(claim)} it asked for"
                )
                metrics.peaks["gpu_overuse"] = note
                note_in_log(metrics.path.parent, f"evd: warning: this job {note}")
                if self.stop_gpu_overuse:
                    self.supervised.stop_over_limit(run_id, "gpu-memory")
                return

    def _update_devices(self, snapshot: Snapshot, started: float) -> bool:
        """Outside use, health and lingering processes → the pool; whether anything freed up."""
        freed = False
        for gpu in snapshot.gpus:
            device = self.supervised.pool.devices.get(gpu.index)
            if device is None:
                continue
            before = (device.problem, device.memory_external)
            device.memory_external = snapshot.external.get(gpu.index, 0)
            problem = gpu.problem
            lingering = snapshot.lingering.get(gpu.index, {})
            if lingering and problem is None:
                pid, run_id = next(iter(lingering.items()))
                problem = f"process {pid} of ended run {run_id} still holds it; evd is stopping it"
                for stray in lingering:
                    with contextlib.suppress(OSError):
                        os.kill(stray, signal.SIGKILL)
            settling = self._settling.get(gpu.index)
            if settling is not None:
                if started <= settling[0]:  # read before that run ended: proves nothing yet
                    problem = problem or device.problem
                else:
                    del self._settling[gpu.index]
            if problem != device.problem:
                if problem and not problem.startswith("checking"):
                    log.warning("GPU%s is drained: %s", gpu.index, problem)
                elif device.problem and not device.problem.startswith("checking"):
                    log.info("GPU%s is usable again", gpu.index)
            device.problem = problem
            if (device.problem, device.memory_external) != before:
                freed = freed or device.problem is None or device.memory_external < before[1]
        return freed
