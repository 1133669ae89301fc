"""A run's metrics: peaks (kept in the database) and a compact series (a file in its folder).

The series is ``metrics.jsonl`` in the run's folder, one point per line:
``[unix_time, cpu_percent, rss_bytes, {"0": gpu0_memory_bytes, ...}]``.
Every sample is kept for the first ``POINTS_PER_STEP`` points, then every
second one for as many more, then every fourth...: a day-long run writes a
few thousand points, a minute-long one every sample. Sparklines need no more.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evd.daemon.monitor.sampler import RunSample

log = logging.getLogger("evd.metrics")

SERIES_FILE = "metrics.jsonl"
POINTS_PER_STEP = 600
MAX_SERIES_POINTS = 10_000  # what the API returns at most (every n-th point beyond)


@dataclass
class RunMetrics:
    """The peaks and the series writer of one running run."""

    path: Path
    peaks: dict[str, Any] = field(default_factory=dict)
    samples: int = 0
    points: int = 0
    stride: int = 1

    def add(self, at: float, sample: RunSample) -> None:
        """Take one sample: update the peaks, and write a point when one is due."""
        peaks = self.peaks
        peaks["cpu_percent"] = max(peaks.get("cpu_percent", 0.0), round(sample.cpu_percent, 1))
        peaks["rss"] = max(peaks.get("rss", 0), sample.rss)
        if sample.gpu_memory:
            gpu = peaks.setdefault("gpu_memory", {})
            for index, used in sample.gpu_memory.items():
                gpu[str(index)] = max(gpu.get(str(index), 0), used)
        self.samples += 1
        if (self.samples - 1) % self.stride:
            return
        gpu_now = {str(index): used for index, used in sample.gpu_memory.items()}
        point = [round(at, 2), round(sample.cpu_percent, 1), sample.rss, gpu_now]
        try:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(point, separators=(",", ":")) + "\n")
        except OSError as error:  # a full disk loses points, never the run
            log.warning("cannot write %s: %s", self.path, error)
            return
        self.points += 1
        if self.points % POINTS_PER_STEP == 0:
            self.stride *= 2


def read_series(run_dir: Path) -> dict[str, list[Any]]:
    """A run's series as columns (``t``, ``cpu_percent``, ``rss``, ``gpu_memory``)."""
    columns: dict[str, list[Any]] = {"t": [], "cpu_percent": [], "rss": [], "gpu_memory": []}
    try:
        lines = (run_dir / SERIES_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return columns
    step = max(1, len(lines) // MAX_SERIES_POINTS + (len(lines) % MAX_SERIES_POINTS > 0))
    for line in lines[::step]:
        try:
            at, cpu, rss, gpu = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        columns["t"].append(at)
        columns["cpu_percent"].append(cpu)
        columns["rss"].append(rss)
        columns["gpu_memory"].append(gpu)
    return columns
