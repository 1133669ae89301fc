"""``Pool``: what is free on the machine and who holds what (pure data, no I/O).

The scheduler asks ``fit`` on a copy and ``take`` s what it starts; the engine
applies the same ``take`` to its own pool once a start succeeded, and
``release`` s on exit. Rules:

* CPUs and memory are counted against the machine's totals.
* Whole GPUs take whole devices nobody else uses (lowest index first).
* A fraction of a GPU shares a device with other fractions, packed by GPU
  memory: best fit (the device left with the least memory that still fits),
  never over-committing a device's memory, minus what processes outside evd
  hold on it (NVML).
* A device with a problem (unhealthy, lost) is never handed out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from evd.resources.inventory import Inventory
from evd.resources.request import EPSILON, GIB, Request


@dataclass
class Device:
    """One GPU's capacity and who holds it."""

    index: int
    memory_total: int
    memory_external: int = 0  # held by processes outside evd (NVML)
    problem: str | None = None
    share_used: float = 0.0  # sum of the fractions of runs sharing it
    memory_claimed: int = 0  # GPU memory claimed by evd runs on it
    holders: set[int] = field(default_factory=set)
    whole: bool = False  # held whole by one run
    links: frozenset[int] = frozenset()  # devices it has an NVLink to

    @property
    def memory_free(self) -> int:
        """What a new run could claim."""
        return self.memory_total - self.memory_external - self.memory_claimed


@dataclass(frozen=True)
class Allocation:
    """What one run holds: CPUs, memory, devices, and per device its share and GPU memory."""

    run_id: int
    cpus: float
    memory: int
    gpus: tuple[int, ...] = ()
    share: float = 0.0  # per device: 1.0 for whole devices
    gpu_memory: int = 0  # claimed per device
    ends_by: float | None = None  # when its --timeout stops it at the latest (None: no timeout)


class Pool:
    """The machine's CPUs, memory and devices, and the allocations held."""

    def __init__(self, cpus: float, memory: int, devices: list[Device]) -> None:
        """A pool with nothing held."""
        self.cpus = cpus
        self.memory = memory
        self.devices = {device.index: device for device in devices}
        self.cpus_used = 0.0
        self.memory_used = 0
        self.held: dict[int, Allocation] = {}

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> Pool:
        """An idle pool of the machine's CPUs, memory and usable devices."""
        devices = [
            Device(
                index=gpu.index,
                memory_total=gpu.memory_total,
                problem=gpu.problem,
                links=frozenset(gpu.links),
            )
            for gpu in inventory.gpus
        ]
        cpus = max(0.0, inventory.cpus - inventory.reserved_cpus)
        return cls(cpus, max(0, inventory.memory - inventory.reserved_memory), devices)

    def allocation_of(self, run_id: int, request: Request, gpus: list[int]) -> Allocation:
        """What a run that already holds ``gpus`` holds (to re-adopt it after a restart)."""
        known = tuple(index for index in gpus if index in self.devices)
        share = 1.0 if request.whole_gpus else request.gpu_share
        claim = request.gpu_memory
        if known and not claim and share < 1.0:
            claim = int(share * self.devices[known[0]].memory_total)
        return Allocation(run_id, request.cpus, request.memory, known, share, claim)

    def copy(self) -> Pool:
        """A scratch copy for a tick to try starts on (allocations are immutable: shared)."""
        twin = Pool(self.cpus, self.memory, [])
        twin.devices = {
            index: dataclasses.replace(device, holders=set(device.holders))
            for index, device in self.devices.items()
        }
        twin.cpus_used, twin.memory_used = self.cpus_used, self.memory_used
        twin.held = dict(self.held)
        return twin

    @property
    def cpus_free(self) -> float:
        """CPUs not held."""
        return self.cpus - self.cpus_used

    @property
    def memory_free(self) -> int:
        """Memory not reserved."""
        return self.memory - self.memory_used

    def usable(self) -> list[Device]:
        """Devices that may be handed out."""
        return [d for d in self.devices.values() if d.problem is None]

    def idle(self, gpu_memory: int = 0, excluded: set[int] | None = None) -> list[Device]:
        """Devices a whole-GPU request could take: usable, unheld, with ``gpu_memory`` free."""
        excluded = excluded or set()
        return [
            d
            for d in self.usable()
            if not d.holders and d.index not in excluded and d.memory_free >= gpu_memory
        ]

    def never_fits(self, request: Request) -> str | None:
        """Why ``request`` could not start even on an idle machine, or ``None``.

        Drained devices count: a drain may end (a reset, a stray process gone),
        and a run waiting for one says so.
        """
        usable = list(self.devices.values())
        if request.cpus > self.cpus + EPSILON:
            return f"asks for {request.cpus:g} CPUs; this machine has {self.cpus:g}"
        if request.memory > self.memory:
            return (
                f"asks for {request.memory / GIB:.1f} GiB of memory;"
                f" this machine has {self.memory / GIB:.1f} GiB"
            )
        if request.gpus > 0 and not usable:
            return (
                "asks for a GPU; this machine has none evd can use"
                " (`evd gpus` says why; EVD_FAKE_GPUS=4x24GiB fakes some for testing)"
            )
        if request.whole_gpus > len(usable):
            return f"asks for {request.whole_gpus} GPUs; this machine has {len(usable)}"
        largest = max((d.memory_total for d in usable), default=0)
        if request.gpu_memory > largest:
            return (
                f"asks for {request.gpu_memory / GIB:.1f} GiB of GPU memory per device;"
                f" the largest GPU here has {largest / GIB:.1f} GiB"
            )
        return None

    def fit(
        self, run_id: int, request: Request, reserved: Reserved | None = None
    ) -> Allocation | None:
        """An allocation for ``request`` from what is free (minus ``reserved``), or ``None``."""
        reserved = reserved or Reserved()
        if request.cpus > self.cpus_free - reserved.cpus + EPSILON:
            return None
        if request.memory > self.memory_free - reserved.memory:
            return None
        if request.whole_gpus:
            return self._fit_whole(run_id, request, reserved)
        if request.gpu_share:
            return self._fit_share(run_id, request, reserved)
        return Allocation(run_id, request.cpus, request.memory)

    def _fit_whole(self, run_id: int, request: Request, reserved: Reserved) -> Allocation | None:
        free = self.idle(request.gpu_memory, reserved.devices | reserved.shares.keys())
        if len(free) < request.whole_gpus:
            return None
        chosen = closest(free, request.whole_gpus)
        return Allocation(run_id, request.cpus, request.memory, chosen, 1.0, request.gpu_memory)

    def _fit_share(self, run_id: int, request: Request, reserved: Reserved) -> Allocation | None:
        best: tuple[int, int, int] | None = None  # (memory left after, index, claim)
        for device in self.usable():
            if device.whole or device.index in reserved.devices:
                continue
            claim = request.gpu_memory or int(request.gpu_share * device.memory_total)
            kept_share, kept_memory = reserved.shares.get(device.index, (0.0, 0))
            left = device.memory_free - claim - kept_memory
            if device.share_used + request.gpu_share + kept_share > 1 + EPSILON or left < 0:
                continue
            if best is None or (left, device.index) < best[:2]:
                best = (left, device.index, claim)
        if best is None:
            return None
        _left, index, claim = best
        return Allocation(run_id, request.cpus, request.memory, (index,), request.gpu_share, claim)

    def take(self, allocation: Allocation) -> None:
        """Hold ``allocation``."""
        self.held[allocation.run_id] = allocation
        self.cpus_used += allocation.cpus
        self.memory_used += allocation.memory
        for index in allocation.gpus:
            device = self.devices[index]
            device.holders.add(allocation.run_id)
            device.share_used += allocation.share
            device.memory_claimed += allocation.gpu_memory
            device.whole = device.whole or allocation.share >= 1.0

    def release(self, run_id: int) -> None:
        """Give back what ``run_id`` held (no-op if nothing)."""
        allocation = self.held.pop(run_id, None)
        if allocation is None:
            return
        self.cpus_used -= allocation.cpus
        self.memory_used -= allocation.memory
        for index in allocation.gpus:
            device = self.devices.get(index)
            if device is None:
                continue
            device.holders.discard(run_id)
            device.share_used = max(0.0, device.share_used - allocation.share)
            device.memory_claimed = max(0, device.memory_claimed - allocation.gpu_memory)
            if allocation.share >= 1.0:
                device.whole = False


@dataclass
class Reserved:
    """Resources set aside for the first run that could not start, so backfill cannot starve it."""

    cpus: float = 0.0
    memory: int = 0
    devices: set[int] = field(default_factory=set)  # idle devices kept whole for it
    shares: dict[int, tuple[float, int]] = field(default_factory=dict)  # device -> (share, memory)
    until: float = math.inf  # the shadow time: by then it is sure to fit (evd.reservation)


def closest(free: list[Device], count: int) -> tuple[int, ...]:
    """``count`` of the ``free`` devices, as closely linked as possible (NVLink pairs first).

    Greedy from each seed: add the device with the most links into the set so
    far (lowest index on ties); keep the set with the most links inside it,
    the lowest indexes on ties. Without topology this is the lowest indexes.
    """
    if count >= len(free) or not any(d.links for d in free):
        return tuple(sorted(d.index for d in free[:count]))
    best: tuple[int, tuple[int, ...]] | None = None
    for seed in free:
        chosen = [seed]
        while len(chosen) < count:
            inside = {d.index for d in chosen}
            rest = [d for d in free if d.index not in inside]
            chosen.append(max(rest, key=lambda d: (len(d.links & inside), -d.index)))
        indexes = tuple(sorted(d.index for d in chosen))
        inside = set(indexes)
        score = sum(len(d.links & inside) for d in chosen)
        if best is None or (-score, indexes) < (-best[0], best[1]):
            best = (score, indexes)
    assert best is not None
    return best[1]
