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
end, so no EASY backfill onto what the queue's head waits for), then the same
again with run-time estimates from history and every job preemptible: a run
may borrow what the head waits for when its estimate says it ends in time,
and is requeued (its work lost) the moment the head would fit without it.
The estimates are off by -30% to +50% (drawn per job). Then the spread of the
ratios over ten other seeds of the same mix.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import random
import statistics
from dataclasses import dataclass

from evd.resources.pool import Device, Pool
from evd.resources.request import Request
from evd.scheduler import Capacity, QueuedRun, QueueIndex, loans_to_recall, tick
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
    estimate: float | None = None  # minutes, as history says (then the job is preemptible)


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


def estimated(jobs: list[Job], seed: int = 2026) -> list[Job]:
    """The same jobs without timeouts, each with an estimate 30% under to 50% over its length."""
    errors = random.Random(seed + 2)
    return [
        dataclasses.replace(job, timeout=None, estimate=job.minutes * errors.uniform(0.7, 1.5))
        for job in jobs
    ]


@dataclass
class Outcome:
    """How a simulated schedule went."""

    makespan: float = 0.0  # minutes
    loans: int = 0  # runs started on what the head waits for, on their estimates
    recalls: int = 0  # loans taken back (their work lost)


def simulate(jobs: list[Job]) -> float:
    """The makespan (minutes) of ``jobs`` under evd's scheduler."""
    return play(jobs).makespan


def play(jobs: list[Job]) -> Outcome:
    """Schedule ``jobs`` on the simulated clock; loans are taken back as the daemon does."""
    pool = Pool(256, 2048 * GIB, [Device(i, DEVICE_MEMORY) for i in range(DEVICES)])
    queue = QueueIndex()
    runs = {}
    for job in jobs:
        run = QueuedRun(
            job.id + 1,
            job.priority,
            job.request,
            job.timeout,
            estimate=job.estimate,
            preemptible=job.estimate is not None,
        )
        runs[run.id] = run
        queue.add(run)
    priorities = {run_id: run.priority for run_id, run in runs.items()}
    minutes = {job.id + 1: job.minutes for job in jobs}
    ends: list[tuple[float, int, int]] = []  # (when, run, attempt): a recalled attempt is void
    attempt = dict.fromkeys(runs, 0)
    outcome = Outcome()
    now = 0.0
    while len(queue) or ends:
        recall = [0]
        while recall:
            for allocation in tick(now, queue, len(ends), Capacity(None), pool):
                run_id = allocation.run_id
                queue.remove(run_id)
                pool.take(allocation)
                outcome.loans += allocation.on_loan
                heapq.heappush(ends, (now + minutes[run_id], run_id, attempt[run_id]))
            head = next(iter(queue), None)
            recall = [] if head is None else loans_to_recall(head, pool, priorities)
            for run_id in recall:
                pool.release(run_id)
                attempt[run_id] += 1
                queue.add(runs[run_id])
                outcome.recalls += 1
        while ends and ends[0][2] != attempt[ends[0][1]]:
            heapq.heappop(ends)
        if not ends:
            if len(queue):
                raise RuntimeError("nothing running and nothing can start: the workload cannot fit")
            break
        now, run_id, _ = heapq.heappop(ends)
        pool.release(run_id)
        while ends and ends[0][0] == now:
            _, other, number = heapq.heappop(ends)
            if number == attempt[other]:
                pool.release(other)
    outcome.makespan = now
    return outcome


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
    guessed = play(estimated(jobs))
    plain = simulate(whole_devices(jobs))
    print(f"packing {len(jobs)} jobs on {DEVICES} x 80 GiB GPUs (simulated minutes)")
    print(f"  lower bound                 {bound:8.1f}")
    print(f"  evd (shares packed)         {evd:8.1f}   {evd / bound:5.3f} x bound (goal <= 1.10)")
    print(f"  evd, no run has a timeout   {blind:8.1f}   {blind / bound:5.3f} x bound")
    print(
        f"  the same, with estimates    {guessed.makespan:8.1f}   "
        f"{guessed.makespan / bound:5.3f} x bound (goal <= 1.05; preemptible runs:"
        f" {guessed.loans} loans, {guessed.recalls} taken back)"
    )
    print(f"  one job per GPU             {plain:8.1f}   {plain / bound:5.3f} x bound")
    print(f"  evd vs one job per GPU      {plain / evd:8.2f} x faster")
    # One workload can flatter a heuristic: the same mix drawn with other seeds.
    ratios: dict[str, list[float]] = {"timeouts": [], "no timeouts": [], "estimates": []}
    for seed in range(OTHER_SEEDS):
        other = workload(seed)
        other_bound = lower_bound(other)
        ratios["timeouts"].append(simulate(other) / other_bound)
        ratios["no timeouts"].append(simulate(without_timeouts(other)) / other_bound)
        ratios["estimates"].append(play(estimated(other, seed)).makespan / other_bound)
    print(f"  {OTHER_SEEDS} other seeds (x bound)      best   median  worst")
    for name, values in ratios.items():
        print(
            f"    {name:26}{min(values):6.3f}  {statistics.median(values):6.3f}  {max(values):6.3f}"
        )


if __name__ == "__main__":
    main()
