"""What the blocked head of the queue keeps back, and the latest time it can start.

When the first run in start order does not fit, the scheduler sets aside for
it what it is waiting for (``Reserved``): the free CPUs and memory it needs,
the devices it would take. Later runs start only on what is left, so the head
is never starved.

Runs started with a ``--timeout`` end by a known time (they are stopped at
it), which makes a second kind of backfill safe, EASY backfill as in Slurm
and Maui: from the runs' ends the head's *shadow time* follows — by then,
even if nothing ends early, enough is released for it. A run whose own
timeout ends before the shadow time may use what is set aside: it is gone
before the head could have started. A run without a timeout has no known
end; while one holds what the head waits for, the shadow time is unknown
(``math.inf``) and only the first kind of backfill applies.

Everything here is pure: it reads a ``Pool`` and returns numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from evd.resources.pool import Allocation, Device, Pool, Reserved, share_claim
from evd.resources.request import MILLI, Request


def reserve(pool: Pool, request: Request, now: float) -> Reserved:
    """What the blocked ``request`` keeps back from later runs, and its shadow time."""
    reserved = Reserved(
        millicpus=min(request.millicpus, max(0, pool.millicpus_free)),
        memory=min(request.memory, max(0, pool.memory_free)),
    )
    shadow = max(
        now,
        _free_at(pool, request.millicpus, pool.millicpus_free, lambda a: a.millicpus),
        _free_at(pool, request.memory, pool.memory_free, lambda a: a.memory),
    )
    if request.whole_gpus:
        devices, at = _whole_devices(pool, request)
        reserved.devices = devices
        shadow = max(shadow, at)
    elif request.gpu_share:
        shares, at = _share(pool, request)
        reserved.shares = shares
        shadow = max(shadow, at)
    reserved.until = shadow
    return reserved


def _end_of(allocation: Allocation) -> float:
    """When ``allocation`` is sure to be released (``inf``: no timeout, no known end)."""
    return math.inf if allocation.ends_by is None else allocation.ends_by


def _ends(allocations: Iterable[Allocation]) -> list[Allocation]:
    """``allocations`` in the order they are sure to end (unknown ends last)."""
    return sorted(allocations, key=_end_of)


def _free_at(pool: Pool, needed: int, free: int, part: Callable[[Allocation], int]) -> float:
    """When ``needed`` of a resource (``free`` now, ``part`` of each holder) is sure to be free.

    ``-inf``: it is free now; ``inf``: not by any known end.
    """
    if needed <= free:
        return -math.inf
    for allocation in _ends(pool.held.values()):
        free += part(allocation)
        if needed <= free:
            return _end_of(allocation)
    return math.inf


def _device_free_at(pool: Pool, device: Device) -> float:
    """When every run on ``device`` is sure to have ended (``-inf`` if none holds it)."""
    return max((_end_of(pool.held[run_id]) for run_id in device.holders), default=-math.inf)


def _whole_devices(pool: Pool, request: Request) -> tuple[set[int], float]:
    """The devices a whole-GPU head waits for, and when they are sure to be free.

    The idle devices it could take first, then the busy ones that free up
    soonest (the least loaded on ties, so shares drain from few devices).
    """
    candidates = [d for d in pool.usable() if d.memory_total >= request.gpu_memory]
    idle = pool.idle(request.gpu_memory)[: request.whole_gpus]
    chosen = {d.index for d in idle}
    busy = [d for d in candidates if d.index not in chosen]
    busy.sort(
        key=lambda d: (
            _device_free_at(pool, d),
            d.whole,
            d.milli_share_used,
            len(d.holders),
            d.index,
        )
    )
    wanted = busy[: request.whole_gpus - len(chosen)]
    chosen.update(d.index for d in wanted)
    if len(chosen) < request.whole_gpus:
        return chosen, math.inf
    return chosen, max((_device_free_at(pool, d) for d in wanted), default=-math.inf)


def _share(pool: Pool, request: Request) -> tuple[dict[int, tuple[int, int]], float]:
    """The share and GPU memory a fractional head keeps back, and when it is sure to fit.

    It waits on the device where it is sure to fit soonest (the roomiest one
    when no end is known) and keeps back what is free there of its share and
    memory; smaller shares may still use the rest of that device. Keeping to
    one device makes its shadow time only come sooner from tick to tick.
    """
    usable = pool.usable()
    if not usable:
        return {}, math.inf
    fits_at = {d.index: _share_fits_at(pool, d, request) for d in usable}
    device = min(usable, key=lambda d: (fits_at[d.index], d.whole, -d.memory_free, d.index))
    shares: dict[int, tuple[int, int]] = {}
    if not device.whole:
        claim = share_claim(request, device)
        shares[device.index] = (
            min(request.milli_share, max(0, MILLI - device.milli_share_used)),
            min(claim, max(0, device.memory_free)),
        )
    return shares, fits_at[device.index]


def _share_fits_at(pool: Pool, device: Device, request: Request) -> float:
    """When ``request``'s share is sure to fit on ``device``, its holders ending in order."""
    claim = share_claim(request, device)
    share_used, memory_free = device.milli_share_used, device.memory_free
    at = -math.inf
    holders = _ends(pool.held[run_id] for run_id in device.holders)
    for allocation in [None, *holders]:
        if allocation is not None:
            share_used -= allocation.milli_share
            memory_free += allocation.gpu_memory
            at = _end_of(allocation)
        if share_used + request.milli_share <= MILLI and claim <= memory_free:
            return at
    return math.inf
