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

Runs' estimates (``Allocation.expected_by``, learned from alike runs) give a
second, *planned* shadow time: when the head should fit if every run ends as
its estimate says. Only a preemptible run may start on what is set aside by
that plan (a loan): should the plan prove wrong, evd takes the loan back by
requeueing the run the moment the head would fit without it, so the head
starts no later than it would have without estimates. For the sure shadow
time a loan counts as given back already, so no run backfilled on its
timeout outlasts the moment the head would fit without the loans.

Everything here is pure: it reads a ``Pool`` and returns numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial

from evd.resources.pool import Allocation, Device, Pool, Reserved, share_claim
from evd.resources.request import MILLI, Request

_EndOf = Callable[[Allocation], float]  # when an allocation is released, by some measure


def reserve(pool: Pool, request: Request, now: float) -> Reserved:
    """What the blocked ``request`` keeps back from later runs, and its shadow times."""
    reserved = Reserved(
        millicpus=min(request.millicpus, max(0, pool.millicpus_free)),
        memory=min(request.memory, max(0, pool.memory_free)),
    )
    shadow = _shadow(pool, request, now, _end_of)
    if request.whole_gpus:
        devices, at = _whole_devices(pool, request, _end_of)
        reserved.devices = devices
        shadow = max(shadow, at)
    elif request.gpu_share:
        shares, at = _share(pool, request, _end_of)
        reserved.shares = shares
        shadow = max(shadow, at)
    reserved.until = shadow
    reserved.planned = shadow
    if any(a.expected_by is not None for a in pool.held.values()):
        reserved.planned = min(shadow, planned_shadow(pool, request, now))
    return reserved


def planned_shadow(pool: Pool, request: Request, now: float) -> float:
    """When ``request`` should fit if the running runs end as their estimates say.

    A run past its estimate (or without one) ends by its timeout, else nobody knows.
    """
    end_of = partial(_planned_end, now)
    shadow = _shadow(pool, request, now, end_of)
    if request.whole_gpus:
        shadow = max(shadow, _whole_devices(pool, request, end_of)[1])
    elif request.gpu_share:
        shadow = max(shadow, _share(pool, request, end_of)[1])
    return shadow


def _shadow(pool: Pool, request: Request, now: float, end_of: _EndOf) -> float:
    """When the CPUs and memory ``request`` needs are free, the holders ending by ``end_of``."""
    return max(
        now,
        _free_at(pool, request.millicpus, pool.millicpus_free, lambda a: a.millicpus, end_of),
        _free_at(pool, request.memory, pool.memory_free, lambda a: a.memory, end_of),
    )


def _sure_end(allocation: Allocation) -> float:
    """When ``allocation`` is sure to be released (``inf``: no timeout, no known end)."""
    return math.inf if allocation.ends_by is None else allocation.ends_by


def _end_of(allocation: Allocation) -> float:
    """When ``allocation`` is sure to be given back: a loan at once (evd recalls it)."""
    return -math.inf if allocation.on_loan else _sure_end(allocation)


def _planned_end(now: float, allocation: Allocation) -> float:
    """When ``allocation`` should be released: its estimate while ahead, else its sure end."""
    expected = allocation.expected_by
    if expected is not None and expected > now:
        return min(expected, _sure_end(allocation))
    return _sure_end(allocation)


def _ends(allocations: Iterable[Allocation], end_of: _EndOf) -> list[Allocation]:
    """``allocations`` in the order they end by ``end_of`` (unknown ends last)."""
    return sorted(allocations, key=end_of)


def _free_at(
    pool: Pool, needed: int, free: int, part: Callable[[Allocation], int], end_of: _EndOf
) -> float:
    """When ``needed`` of a resource (``free`` now, ``part`` of each holder) is sure to be free.

    ``-inf``: it is free now; ``inf``: not by any known end.
    """
    if needed <= free:
        return -math.inf
    for allocation in _ends(pool.held.values(), end_of):
        free += part(allocation)
        if needed <= free:
            return end_of(allocation)
    return math.inf


def _device_free_at(pool: Pool, device: Device, end_of: _EndOf) -> float:
    """When every run on ``device`` has ended, by ``end_of`` (``-inf`` if none holds it)."""
    return max((end_of(pool.held[run_id]) for run_id in device.holders), default=-math.inf)


def _whole_devices(pool: Pool, request: Request, end_of: _EndOf) -> tuple[set[int], float]:
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
            _device_free_at(pool, d, end_of),
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
    return chosen, max((_device_free_at(pool, d, end_of) for d in wanted), default=-math.inf)


def _share(
    pool: Pool, request: Request, end_of: _EndOf
) -> tuple[dict[int, tuple[int, int]], float]:
    """The share and GPU memory a fractional head keeps back, and when it is sure to fit.

    It waits on the device where it is sure to fit soonest (the roomiest one
    when no end is known) and keeps back what is free there of its share and
    memory; smaller shares may still use the rest of that device. Keeping to
    one device makes its shadow time only come sooner from tick to tick.
    """
    usable = pool.usable()
    if not usable:
        return {}, math.inf
    fits_at = {d.index: _share_fits_at(pool, d, request, end_of) for d in usable}
    device = min(usable, key=lambda d: (fits_at[d.index], d.whole, -d.memory_free, d.index))
    shares: dict[int, tuple[int, int]] = {}
    if not device.whole:
        claim = share_claim(request, device)
        shares[device.index] = (
            min(request.milli_share, max(0, MILLI - device.milli_share_used)),
            min(claim, max(0, device.memory_free)),
        )
    return shares, fits_at[device.index]


def _share_fits_at(pool: Pool, device: Device, request: Request, end_of: _EndOf) -> float:
    """When ``request``'s share fits on ``device``, its holders ending by ``end_of``."""
    claim = share_claim(request, device)
    share_used, memory_free = device.milli_share_used, device.memory_free
    at = -math.inf
    holders = _ends((pool.held[run_id] for run_id in device.holders), end_of)
    for allocation in [None, *holders]:
        if allocation is not None:
            share_used -= allocation.milli_share
            memory_free += allocation.gpu_memory
            at = end_of(allocation)
        if share_used + request.milli_share <= MILLI and claim <= memory_free:
            return at
    return math.inf
