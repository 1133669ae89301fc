"""Packing: a fixed mixed GPU workload scheduled by evd's own ``tick``, on a simulated clock.

8 fake 80 GiB GPUs; 48 whole-GPU jobs (1, 2 or 4 devices) and 160 fractional
ones (a quarter or half of a device, with GPU memory sizes), with durations
and ``--timeout`` s 10% to 100% above them, all queued at once with mixed
priorities. The simulation steps the real
scheduler and pool: start what ``tick`` says, advance to the next end,
release, tick again. It prints the makespan against

* its lower bound: the larger of the total device-time divided by the
  devices (a fraction counts as the larger of its share and its memory part)
  and the longest job (goal: within 10%), and
* plain one-job-per-GPU assignment: the same workload where every job,
  fractional or not, takes whole devices.

It also prints the makespan when no job has a timeout (no run has a known
end, so no EASY backfill onto what the queue's head waits for), and the worst
ratios over ten other seeds of the same mix.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import random
from dataclasses import dataclass

from evd.resources.pool import Device, Pool
from evd.resources.request import Request
from evd.scheduler import Capacity, QueuedRun, QueueIndex, tick
from evd.units import GIB

DEVICES = 8
DEVICE_MEMORY = 80 * GIB
OTHER_SEEDS = 10


@dataclass(frozen=True)
class Job:
    """One job of the workload: what it asks for and how long it runs (minutes)."""

    id: int
    priority: int
    request: Request
    minutes: float
    timeout: float | None = None  # minutes; the run is stopped at it


def workload(seed: int = 2026) -> list[Job]:
    """The fixed workload (seeded: the same on every run)."""
    rng = random.Random(seed)
    jobs = []
    for index in range(48):
        gpus = rng.choice([1, 1, 1, 2, 2, 4])
        jobs.append(Job(index, rng.randint(0, 2), Request(gpus=gpus), rng.uniform(20, 90)))
    for index in range(48, 208):
        share = rng.choice([0.25, 0.5])
        memory = rng.choice([10, 16, 20, 30, 40]) * GIB
        request = Request(gpus=share, gpu_memory=min(memory, int(share * DEVICE_MEMORY * 1.6)))
        jobs.append(Job(index, rng.randint(0, 2), request, rng.uniform(5, 40)))
    # Timeouts as people set them: 10% to 100% above the run time, rounded up
    # to 10 minutes (drawn apart, so the jobs are the same with or without).
    limits = random.Random(seed + 1)
    return [
        dataclasses.replace(job, timeout=math.ceil(job.minutes * limits.uniform(1.1, 2) / 10) * 10)
        for job in jobs
    ]


def without_timeouts(jobs: list[Job]) -> list[Job]:
    """The same jobs with no timeouts: no run has a known end."""
    return [dataclasses.replace(job, timeout=None) for job in jobs]


def simulate(jobs: list[Job]) -> float:
    """The makespan (minutes) of ``jobs`` under evd's scheduler."""
    pool = Pool(256, 2048 * GIB, [Device(i, DEVICE_MEMORY) for i in range(DEVICES)])
    queue = QueueIndex()
    by_id = {job.id: job for job in jobs}
    for job in jobs:
        queue.add(QueuedRun(job.id + 1, job.priority, job.request, job.timeout))
    ends: list[tuple[float, int]] = []
    now = 0.0
    while len(queue) or ends:
        for allocation in tick(now, queue, len(ends), Capacity(None), pool):
            queue.remove(allocation.run_id)
            pool.take(allocation)
            heapq.heappush(ends, (now + by_id[allocation.run_id - 1].minutes, allocation.run_id))
        if not ends:
            raise RuntimeError("nothing running and nothing can start: the workload cannot fit")
        now, run_id = heapq.heappop(ends)
        pool.release(run_id)
        while ends and ends[0][0] == now:
            pool.release(heapq.heappop(ends)[1])
    return now


def lower_bound(jobs: list[Job]) -> float:
    """No schedule can finish sooner than this."""
    area = 0.0
    for job in jobs:
        request = job.request
        if request.whole_gpus:
            area += request.whole_gpus * job.minutes
        else:
            area += max(request.gpu_share, request.gpu_memory / DEVICE_MEMORY) * job.minutes
    return max(area / DEVICES, *(job.minutes for job in jobs))


def whole_devices(jobs: list[Job]) -> list[Job]:
    """The same jobs when every one takes whole devices (no sharing)."""
    return [
        dataclasses.replace(job, request=Request(gpus=max(1, job.request.whole_gpus)))
        for job in jobs
    ]


def main() -> None:
    """Print the makespans and their ratios."""
    jobs = workload()
    bound = lower_bound(jobs)
    evd = simulate(jobs)
    blind = simulate(without_timeouts(jobs))
    plain = simulate(whole_devices(jobs))
    print(f"packing {len(jobs)} jobs on {DEVICES} x 80 GiB GPUs (simulated minutes)")
    print(f"  lower bound                 {bound:8.1f}")
    print(f"  evd (shares packed)         {evd:8.1f}   {evd / bound:5.3f} x bound (goal <= 1.10)")
    print(f"  evd, no run has a timeout   {blind:8.1f}   {blind / bound:5.3f} x bound")
    print(f"  one job per GPU             {plain:8.1f}   {plain / bound:5.3f} x bound")
    print(f"  evd vs one job per GPU      {plain / evd:8.2f} x faster")
    # One workload can flatter a heuristic: the same mix drawn with other seeds.
    timed, untimed = [], []
    for seed in range(OTHER_SEEDS):
        other = workload(seed)
        other_bound = lower_bound(other)
        timed.append(simulate(other) / other_bound)
        untimed.append(simulate(without_timeouts(other)) / other_bound)
    print(f"  {OTHER_SEEDS} other seeds, worst         {max(timed):5.3f} x bound with timeouts,")
    print(f"  {'':33}{max(untimed):5.3f} x bound without")


if __name__ == "__main__":
    main()
