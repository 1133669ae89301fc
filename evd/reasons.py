"""Why a queued run has not started, in words a person can act on (pure: reads a ``Pool``).

The first shortfall found is named — GPUs, then CPUs, then memory, with who
holds them — then what is kept back for the blocked head of the queue (see
``evd.reservation``) and why the head itself waits. "Waiting for its turn"
is said only when nothing else is true: the run fits and the next tick
starts it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from evd.resources.pool import Pool, Reserved
from evd.resources.request import MILLI, Request
from evd.scheduler import QueuedRun
from evd.units import GIB, format_duration

Names = Callable[[int], str]  # run id -> "run 12 (alpha)"


def why_waiting(
    request: Request,
    pool: Pool,
    ahead: int,
    names: Names,
    *,
    head: tuple[QueuedRun, Reserved] | None = None,
    now: float = 0.0,
) -> str:
    """Why a run asking for ``request`` waits, ``ahead`` runs before it in the queue.

    ``head`` is the blocked head of the queue and what it keeps back
    (``evd.scheduler.blocked_head``), ``now`` the clock its shadow time is on.
    Drained devices are named with the reason.
    """
    reason = shortfall(request, pool, names)
    if reason is None and head is not None:
        reason = _kept(request, pool, head, names, now)
    if reason is None:
        reason = f"waiting for its turn: {ahead} run(s) ahead of it in the queue"
    drained = "; ".join(
        f"GPU{d.index} drained: {d.problem}" for d in pool.devices.values() if d.problem
    )
    if drained and request.gpus:
        return f"{reason}; {drained}"
    return reason


def shortfall(request: Request, pool: Pool, names: Names) -> str | None:
    """What ``request`` needs that is not free, and who holds it (``None``: it fits)."""
    usable = pool.usable()
    if request.whole_gpus:
        idle = pool.idle(request.gpu_memory)
        if len(idle) < request.whole_gpus:
            held = "; ".join(
                f"GPU{d.index} held by {_holders(d.holders, names)}" for d in usable if d.holders
            )
            return f"needs {request.describe()}; {len(idle)} GPU(s) free" + (
                f": {held}" if held else ""
            )
    elif request.gpu_share and pool.fit(-1, request) is None:
        states = "; ".join(
            f"GPU{d.index} has {d.memory_free / GIB:.1f} GiB and"
            f" {max(0, MILLI - d.milli_share_used) / MILLI:g} of its share free"
            + (f" ({_holders(d.holders, names)})" if d.holders else "")
            for d in usable
        )
        return f"needs {request.describe()}: {states}"
    if request.millicpus > pool.millicpus_free:
        return f"needs {request.describe()}; {max(0, pool.millicpus_free) / MILLI:g} CPU(s) free"
    if request.memory > pool.memory_free:
        return (
            f"needs {request.describe()};"
            f" {max(0, pool.memory_free) / GIB:.1f} GiB of memory unreserved"
        )
    return None


def _kept(
    request: Request, pool: Pool, head: tuple[QueuedRun, Reserved], names: Names, now: float
) -> str | None:
    """What the head keeps back that ``request`` would need, or ``None`` if it needs none of it."""
    run, reserved = head
    if pool.fit(-1, request, reserved) is not None:
        return None
    kept = []
    if reserved.millicpus and request.millicpus > pool.millicpus_free - reserved.millicpus:
        count = reserved.millicpus / MILLI
        kept.append(f"{count:g} CPU" + ("" if count == 1 else "s"))
    if reserved.memory and request.memory > pool.memory_free - reserved.memory:
        kept.append(f"{reserved.memory / GIB:.1f} GiB of memory")
    idle_kept = sorted(i for i in reserved.devices if not pool.devices[i].holders)
    if request.gpus and idle_kept:
        kept.append(", ".join(f"GPU{index}" for index in idle_kept))
    if request.gpus and reserved.shares:
        kept.append(", ".join(f"a share of GPU{index}" for index in sorted(reserved.shares)))
    what = " and ".join(kept) or "what it needs"
    head_waits = shortfall(run.request, pool, names) or "waits for its turn"
    text = f"{what} kept for {names(run.id)}, which {head_waits}"
    if reserved.until < math.inf:
        text += (
            f" (a run whose --timeout ends within {format_duration(reserved.until - now)}"
            " may use it)"
        )
    return text


def _holders(device_holders: set[int], names: Names) -> str:
    return ", ".join(names(run_id) for run_id in sorted(device_holders))
