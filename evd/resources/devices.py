"""A GPU as evd describes it, from NVML or from ``EVD_FAKE_GPUS``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GpuProcess:
    """A process NVML sees on a device, and the device memory it holds (bytes, if known)."""

    pid: int
    used_memory: int | None


@dataclass(frozen=True)
class Gpu:
    """One device as NVML (or ``EVD_FAKE_GPUS``) describes it."""

    index: int
    uuid: str
    name: str
    memory_total: int  # what evd may hand out: the driver's reserved memory is not in it
    memory_used: int = 0
    utilization: int | None = None  # percent, when NVML reports it
    processes: tuple[GpuProcess, ...] = ()
    problem: str | None = None  # why the device must not be used (ECC errors, lost), if any
    links: tuple[int, ...] = ()  # devices it has an NVLink to
    memory_reserved: int = 0  # kept by the driver (NVML's v2 memory), never handed out
    compute_capability: tuple[int, int] | None = None  # (8, 6) is sm_86; None: not known
    # Whether CUDA counts it among its devices (not in MIG mode, NVML could open it): a
    # device CUDA skips shifts CUDA's numbering of those after it away from NVML's.
    cuda_counts: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The API's form."""
        return {
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "memory_total": self.memory_total,
            "memory_used": self.memory_used,
            "utilization": self.utilization,
            "processes": [{"pid": p.pid, "used_memory": p.used_memory} for p in self.processes],
            "problem": self.problem,
            "links": list(self.links),
            "memory_reserved": self.memory_reserved,
            "compute_capability": list(self.compute_capability)
            if self.compute_capability
            else None,
        }
