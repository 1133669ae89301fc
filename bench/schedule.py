"""One scheduling tick with 10,000 queued runs on 8 fake GPUs (goal: under 5 ms).

Two situations: the machine is full (every CPU held: the scan stops at once),
and the worst case for backfill: the head waits for GPUs while CPUs are free,
so every queued GPU run is looked at; and that again with a ``--timeout`` on
every run, so each is also weighed for EASY backfill against the head's
shadow time.
"""

from __future__ import annotations

import random
import statistics
import time

from evd.resources.pool import Device, Pool
from evd.resources.request import Request
from evd.scheduler import Capacity, QueuedRun, QueueIndex, tick
from evd.units import GIB

QUEUED = 10_000
SAMPLES = 30


def build(cpus_held: float, limit: float | None = None) -> tuple[QueueIndex, Pool]:
    rng = random.Random(7)
    pool = Pool(64, 512 * GIB, [Device(i, 80 * GIB) for i in range(8)])
    for index in range(8):  # every GPU busy
        (allocation,) = tick(
            0.0,
            [QueuedRun(-1 - index, request=Request(gpus=1, cpus=cpus_held / 8), limit=limit)],
            0,
            Capacity(1000),
            pool,
        )
        pool.take(allocation)
    queue = QueueIndex()
    shapes = [Request(gpus=1), Request(gpus=2), Request(gpus=0.5, gpu_memory=30 * GIB)]
    for run_id in range(1, QUEUED + 1):
        run_limit = None if limit is None else rng.uniform(limit / 2, limit * 2)
        queue.add(QueuedRun(run_id, rng.randint(0, 3), rng.choice(shapes), run_limit))
    return queue, pool


def measure(queue: QueueIndex, pool: Pool) -> float:
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        tick(0.0, queue, 8, Capacity(10_000), pool)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    full = measure(*build(cpus_held=64))
    scan = measure(*build(cpus_held=8))
    easy = measure(*build(cpus_held=8, limit=3600))
    print(f"one tick, {QUEUED} queued runs, 8 GPUs busy (median of {SAMPLES})")
    print(f"  machine full (no CPU free)       {full:7.2f} ms   goal < 5 ms")
    print(f"  CPUs free, every GPU run scanned {scan:7.2f} ms   goal < 5 ms")
    print(f"  the same, every run has a timeout {easy:6.2f} ms   goal < 5 ms")


if __name__ == "__main__":
    main()
