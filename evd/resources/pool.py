"""``Pool``: what is free on the machine and who holds what (pure data, no I/O).

The scheduler asks ``fit`` on a copy and ``take`` s what it starts; the engine
applies the same ``take`` to its own pool once a start succeeded, and
``release`` s on exit. Rules:

* CPUs and memory are counted against the machine's totals: CPUs and GPU
  shares in integer thousandths, memory in bytes, so no float residue can
  reach a decision or a reason.
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
from evd.resources.request import MILLI, Request, milli
from evd.units import GIB


@dataclass
class Device:
    """One GPU's capacity and who holds it."""

    index: int
    memory_total: int
    memory_external: int = 0  # held by processes outside evd (NVML)
    problem: str | None = None
    milli_share_used: int = 0  # sum of the fractions of runs sharing it, in thousandths
    memory_claimed: int = 0  # GPU memory claimed by evd runs on it
    holders: set[int] = field(default_factory=set)
    whole: bool = False  # held whole by one run
    links: frozenset[int] = frozenset()  # devices it has an NVLink to

    @property
    def memory_free(self) -> int:
        """What a new run could claim."""
        return self.memory_total - self.memory_external - self.memory_claimed

    @property
    def share_used(self) -> float:
        """The fraction of the device runs share."""
        return self.milli_share_used / MILLI


@dataclass(frozen=True)
class Allocation:
    """What one run holds: CPUs, memory, devices, and per device its share and GPU memory."""

    run_id: int
    millicpus: int
    memory: int
    gpus: tuple[int, ...] = ()
    milli_share: int = 0  # per device, in thousandths: MILLI for whole devices
    gpu_memory: int = 0  # claimed per device
    ends_by: float | None = None  # when its --timeout stops it at the latest (None: no timeout)
    expected_by: float | None = None  # when its estimate says it ends (a plan, never a kill)
    on_loan: bool = False  # it started on what the blocked head keeps, on its estimate

    @property
    def cpus(self) -> float:
        """CPUs held."""
        return self.millicpus / MILLI

    @property
    def share(self) -> float:
        """The fraction of each of its devices held (1.0 for whole devices)."""
        return self.milli_share / MILLI

    @property
    def whole(self) -> bool:
        """Whether it holds its devices whole."""
        return self.milli_share >= MILLI


class Pool:
    """The machine's CPUs, memory and devices, and the allocations held."""

    def __init__(self, cpus: float, memory: int, devices: list[Device]) -> None:
        """A pool with nothing held."""
        self.millicpus = milli(cpus)
        self.memory = memory
        self.devices = {device.index: device for device in devices}
        self.millicpus_used = 0
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
        share = MILLI if request.whole_gpus else request.milli_share
        claim = request.gpu_memory
        if known and not claim and share < MILLI:
            claim = share_claim(request, self.devices[known[0]])
        return Allocation(run_id, request.millicpus, request.memory, known, share, claim)

    def copy(self) -> Pool:
        """A scratch copy for a tick to try starts on (allocations are immutable: shared)."""
        twin = Pool(0, self.memory, [])
        twin.millicpus = self.millicpus
        twin.devices = {
            index: dataclasses.replace(device, holders=set(device.holders))
            for index, device in self.devices.items()
        }
        twin.millicpus_used, twin.memory_used = self.millicpus_used, self.memory_used
        twin.held = dict(self.held)
        return twin

    @property
    def cpus(self) -> float:
        """The CPUs runs may hold."""
        return self.millicpus / MILLI

    @property
    def millicpus_free(self) -> int:
        """CPUs not held, in thousandths."""
        return self.millicpus - self.millicpus_used

    @property
    def cpus_free(self) -> float:
        """CPUs not held."""
        return self.millicpus_free / MILLI

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
        if request.millicpus > self.millicpus:
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
        if request.millicpus > self.millicpus_free - reserved.millicpus:
            return None
        if request.memory > self.memory_free - reserved.memory:
            return None
        if request.whole_gpus:
            return self._fit_whole(run_id, request, reserved)
        if request.gpu_share:
            return self._fit_share(run_id, request, reserved)
        return Allocation(run_id, request.millicpus, request.memory)

    def _fit_whole(self, run_id: int, request: Request, reserved: Reserved) -> Allocation | None:
        free = self.idle(request.gpu_memory, reserved.devices | reserved.shares.keys())
        if len(free) < request.whole_gpus:
            return None
        chosen = closest(free, request.whole_gpus)
        return Allocation(
            run_id, request.millicpus, request.memory, chosen, MILLI, request.gpu_memory
        )

    def _fit_share(self, run_id: int, request: Request, reserved: Reserved) -> Allocation | None:
        best: tuple[int, int, int] | None = None  # (memory left after, index, claim)
        for device in self.usable():
            if device.whole or device.index in reserved.devices:
                continue
            claim = share_claim(request, device)
            kept_share, kept_memory = reserved.shares.get(device.index, (0, 0))
            left = device.memory_free - claim - kept_memory
            if device.milli_share_used + request.milli_share + kept_share > MILLI or left < 0:
                continue
            if best is None or (left, device.index) < best[:2]:
                best = (left, device.index, claim)
        if best is None:
            return None
        _left, index, claim = best
        share = request.milli_share
        return Allocation(run_id, request.millicpus, request.memory, (index,), share, claim)

    def take(self, allocation: Allocation) -> None:
        """Hold ``allocation``."""
        self.held[allocation.run_id] = allocation
        self.millicpus_used += allocation.millicpus
        self.memory_used += allocation.memory
        for index in allocation.gpus:
            device = self.devices[index]
            device.holders.add(allocation.run_id)
            device.milli_share_used += allocation.milli_share
            device.memory_claimed += allocation.gpu_memory
            device.whole = device.whole or allocation.whole

    def release(self, run_id: int) -> None:
        """Give back what ``run_id`` held (no-op if nothing)."""
        allocation = self.held.pop(run_id, None)
        if allocation is None:
            return
        self.millicpus_used -= allocation.millicpus
        self.memory_used -= allocation.memory
        for index in allocation.gpus:
            device = self.devices.get(index)
            if device is None:
                continue
            device.holders.discard(run_id)
            device.milli_share_used = max(0, device.milli_share_used - allocation.milli_share)
            device.memory_claimed = max(0, device.memory_claimed - allocation.gpu_memory)
            if allocation.whole:
                device.whole = False

    def end_loan(self, run_id: int) -> None:
        """``run_id`` keeps what it borrowed as its own: it is no longer recalled."""
        held = self.held.get(run_id)
        if held is not None and held.on_loan:
            self.held[run_id] = dataclasses.replace(held, on_loan=False)


@dataclass
class Reserved:
    """Resources set aside for the first run that could not start, so backfill cannot starve it."""

    millicpus: int = 0
    memory: int = 0
    devices: set[int] = field(default_factory=set)  # idle devices kept whole for it
    # device -> (share in thousandths, GPU memory) kept for a fractional head
    shares: dict[int, tuple[int, int]] = field(default_factory=dict)
    until: float = math.inf  # the shadow time: by then it is sure to fit (evd.reservation)
    planned: float = math.inf  # when it should fit if runs end as estimated (<= until)


def share_claim(request: Request, device: Device) -> int:
    """The GPU memory a share of ``device`` claims: what it asks, else its share of the device."""
    return request.gpu_memory or request.milli_share * device.memory_total // MILLI


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
