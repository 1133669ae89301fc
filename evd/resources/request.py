"""``Request``: the compute one run asks for (the scheduler's unit)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from evd.resources.words import describe_request
from evd.units import format_size

MILLI = 1000  # CPUs and GPU shares are counted in thousandths: integers, no float residue


def milli(value: float) -> int:
    """``value`` in thousandths (a positive value is at least one)."""
    counted = round(value * MILLI)
    return max(1, counted) if value > 0 else counted


@dataclass(frozen=True)
class Request:
    """CPUs (may be fractional), memory, GPUs (whole, or a fraction of one), GPU memory.

    Defaults: 1 CPU, no memory reserved, no GPU. ``gpu_memory`` is per device;
    for a fraction of a GPU that does not say, it is that fraction of the
    device's memory.
    """

    cpus: float = 1.0
    memory: int = 0
    gpus: float = 0.0
    gpu_memory: int = 0
    # Bytes of disk for the run's folder: counted against free space when it starts and
    # enforced while it runs (evd.daemon.core.diskroom, the sampler); the pool ignores it.
    disk: int = 0

    def __post_init__(self) -> None:
        # Fractions are kept to the thousandth the pool counts in, so what a run
        # asks for and what it is given are the same number.
        object.__setattr__(self, "cpus", milli(self.cpus) / MILLI)
        object.__setattr__(self, "gpus", milli(self.gpus) / MILLI)

    @property
    def millicpus(self) -> int:
        """CPUs wanted, in thousandths."""
        return milli(self.cpus)

    @property
    def milli_share(self) -> int:
        """The fraction of one device wanted, in thousandths (0 unless ``0 < gpus < 1``)."""
        return milli(self.gpu_share)

    @property
    def whole_gpus(self) -> int:
        """Whole devices wanted (0 for none or a fraction)."""
        return int(self.gpus) if self.gpus >= 1 else 0

    @property
    def gpu_share(self) -> float:
        """The fraction of one device wanted (0 unless ``0 < gpus < 1``)."""
        return self.gpus if 0 < self.gpus < 1 else 0.0

    def describe(self) -> str:
        """``2 GPUs, 4 CPUs, 16.0 GiB`` for reasons and tables."""
        text = describe_request(self.cpus, self.memory, self.gpus, self.gpu_memory)
        return text + (f", {format_size(self.disk)} of disk" if self.disk else "")

    def to_dict(self) -> dict[str, Any]:
        """For the store and the API."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Request:
        """From the store (``None``: the defaults)."""
        if not data:
            return cls()
        return cls(
            cpus=float(data.get("cpus", 1.0)),
            memory=int(data.get("memory", 0)),
            gpus=float(data.get("gpus", 0.0)),
            gpu_memory=int(data.get("gpu_memory", 0)),
            disk=int(data.get("disk", 0)),
        )
