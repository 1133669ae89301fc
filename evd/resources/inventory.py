"""What the machine has: CPUs and memory (psutil), GPUs (NVML through ``nvidia-ml-py``).

No NVIDIA driver is not an error: the machine simply has no GPUs. ``EVD_FAKE_GPUS``
(``4x24GiB``, or a list such as ``2x80GiB,1x24GiB``) describes GPUs for machines
without them; the scheduler and the runner treat them exactly like real ones,
so CI exercises every GPU path. A ``CUDA_VISIBLE_DEVICES`` set on the daemon
limits which devices evd may use (by index or UUID).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import psutil

from evd.units import parse_size

_FAKE_PART = re.compile(r"(?:(\d+)\s*x\s*)?(\d+(?:\.\d+)?\s*[A-Za-z]*)")


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
    memory_total: int
    memory_used: int = 0
    utilization: int | None = None  # percent, when NVML reports it
    processes: tuple[GpuProcess, ...] = ()
    problem: str | None = None  # why the device must not be used (ECC errors, lost), if any
    links: tuple[int, ...] = ()  # devices it has an NVLink to

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
        }


@dataclass(frozen=True)
class Inventory:
    """The machine's capacity as evd may use it."""

    cpus: int
    memory: int
    gpus: tuple[Gpu, ...] = ()
    source: str = "none"  # nvml | fake | none
    note: str | None = None  # why there are no GPUs, when there are none
    hidden: tuple[int, ...] = field(default=())  # devices CUDA_VISIBLE_DEVICES keeps from evd
    reserved_cpus: float = 0.0  # kept back for the desktop (config [resources])
    reserved_memory: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The API's form."""
        return {
            "cpus": self.cpus,
            "memory": self.memory,
            "source": self.source,
            "note": self.note,
            "hidden": list(self.hidden),
            "reserved_cpus": self.reserved_cpus,
            "reserved_memory": self.reserved_memory,
            "gpus": [gpu.to_dict() for gpu in self.gpus],
        }


def parse_fake_gpus(text: str) -> list[Gpu]:
    """``4x24GiB`` → four 24 GiB GPUs; parts separated by commas (``2x80GiB,1x24GiB``)."""
    gpus: list[Gpu] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _FAKE_PART.fullmatch(part)
        if not match:
            raise ValueError(
                f"bad EVD_FAKE_GPUS part {part!r}:"
                " write COUNTxSIZE, e.g. 4x24GiB or 2x80GiB,1x24GiB"
            )
        count = int(match.group(1) or 1)
        size = parse_size(match.group(2))
        for _ in range(count):
            index = len(gpus)
            gpus.append(
                Gpu(
                    index=index,
                    uuid=f"GPU-fake-{index:04d}",
                    name=f"Fake GPU {size // 1024**3} GiB",
                    memory_total=size,
                )
            )
    return gpus


class Nvml(Protocol):
    """The part of ``pynvml`` evd uses (a small fake stands in for it in tests)."""

    def nvmlInit(self) -> None: ...  # noqa: D102
    def nvmlDeviceGetCount(self) -> int: ...  # noqa: D102
    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any: ...  # noqa: D102
    def nvmlDeviceGetUUID(self, handle: Any) -> str: ...  # noqa: D102
    def nvmlDeviceGetName(self, handle: Any) -> str: ...  # noqa: D102
    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any: ...  # noqa: D102
    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any: ...  # noqa: D102
    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]: ...  # noqa: D102


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def read_nvml(nvml: Nvml) -> list[Gpu]:
    """Every device NVML reports, with its memory, utilisation and processes.

    A device whose details cannot be read is kept, marked with the problem, so
    it is drained rather than silently lost.
    """
    gpus = []
    for index in range(nvml.nvmlDeviceGetCount()):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            name = _text(nvml.nvmlDeviceGetName(handle))
        except Exception as error:  # NVMLError_GpuIsLost and friends
            gpus.append(Gpu(index, f"GPU-unreadable-{index}", "unknown", 0, problem=str(error)))
            continue
        try:
            utilization: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # not supported on every device
            utilization = None
        try:
            processes = tuple(
                GpuProcess(int(p.pid), p.usedGpuMemory)
                for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            )
        except Exception:
            processes = ()
        gpus.append(
            Gpu(index, uuid, name, int(memory.total), int(memory.used), utilization, processes)
        )
    return gpus


def parse_links(text: str, count: int) -> dict[int, set[int]]:
    """``0-1,2-3`` → NVLink pairs (for fake GPUs: ``EVD_FAKE_NVLINK``)."""
    links: dict[int, set[int]] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        first, sep, second = pair.partition("-")
        if not sep or not first.isdigit() or not second.isdigit():
            raise ValueError(f"bad EVD_FAKE_NVLINK pair {pair!r}: write pairs such as 0-1,2-3")
        a, b = int(first), int(second)
        if a == b or max(a, b) >= count:
            raise ValueError(f"bad EVD_FAKE_NVLINK pair {pair!r}: there are {count} fake GPUs")
        links.setdefault(a, set()).add(b)
        links.setdefault(b, set()).add(a)
    return links


def read_links(nvml: Nvml, count: int) -> dict[int, set[int]]:
    """Which devices NVML says are joined by NVLink (``{}`` where it cannot say)."""
    api: Any = nvml
    links: dict[int, set[int]] = {}
    try:
        handles = [api.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        for a in range(count):
            for b in range(a + 1, count):
                status = api.nvmlDeviceGetP2PStatus(
                    handles[a], handles[b], api.NVML_P2P_CAPS_INDEX_NVLINK
                )
                if status == api.NVML_P2P_STATUS_OK:
                    links.setdefault(a, set()).add(b)
                    links.setdefault(b, set()).add(a)
    except Exception:  # old drivers, lost devices: no topology, plain lowest-index choice
        return {}
    return links


def _with_links(gpus: list[Gpu], links: dict[int, set[int]]) -> list[Gpu]:
    return [dataclasses.replace(gpu, links=tuple(sorted(links.get(gpu.index, ())))) for gpu in gpus]


def visible(gpus: list[Gpu], cuda_visible_devices: str | None) -> tuple[list[Gpu], list[int]]:
    """The devices a ``CUDA_VISIBLE_DEVICES`` on the daemon allows, and the indexes of the rest.

    Entries are indexes or UUID prefixes (``GPU-8f3a``), as CUDA reads them.
    """
    if cuda_visible_devices is None:
        return gpus, []
    wanted = [item.strip() for item in cuda_visible_devices.split(",") if item.strip()]
    prefixes = [item for item in wanted if item.startswith("GPU-")]
    allowed = [
        gpu
        for gpu in gpus
        if str(gpu.index) in wanted or any(gpu.uuid.startswith(p) for p in prefixes)
    ]
    hidden = [gpu.index for gpu in gpus if gpu not in allowed]
    return allowed, hidden


def load_nvml() -> tuple[Nvml | None, str | None]:
    """NVML, initialised; or ``None`` and why not (no driver is not an error)."""
    try:
        import pynvml  # noqa: PLC0415 (the daemon only, and only when there is no fake)
    except ImportError:
        return None, "nvidia-ml-py is not installed: no GPUs"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return None, f"no NVIDIA driver ({error}): this machine has no GPUs evd can use"
    nvml: Nvml = pynvml
    return nvml, None


def discover(environ: Mapping[str, str], config: Mapping[str, Any] | None = None) -> Inventory:
    """The machine's CPUs, memory and GPUs, as evd may use them.

    ``config`` is the ``[resources]`` table: capacity kept back for the
    desktop, devices to hide, fake GPUs. A ``CUDA_VISIBLE_DEVICES`` on the
    daemon hides the devices it does not list.
    """
    config = config or {}
    cpus = os.cpu_count() or 1
    memory = psutil.virtual_memory().total
    fake = environ.get("EVD_FAKE_GPUS") or config.get("fake_gpus")
    if fake:
        gpus, source, note = parse_fake_gpus(fake), "fake", None
        nvlink = environ.get("EVD_FAKE_NVLINK") or config.get("fake_nvlink") or ""
        gpus = _with_links(gpus, parse_links(nvlink, len(gpus)))
    else:
        nvml, note = load_nvml()
        gpus, source = (read_nvml(nvml), "nvml") if nvml is not None else ([], "none")
        if nvml is not None and len(gpus) > 1:
            gpus = _with_links(gpus, read_links(nvml, len(gpus)))
    allowed, hidden = visible(gpus, environ.get("CUDA_VISIBLE_DEVICES"))
    hide = [str(item) for item in config.get("hide_gpus", [])]
    if hide:
        shown, _ = visible(allowed, ",".join(hide))
        hidden = sorted({*hidden, *(gpu.index for gpu in shown)})
        allowed = [gpu for gpu in allowed if gpu not in shown]
    reserve_memory = config.get("reserve_memory", 0)
    return Inventory(
        cpus,
        memory,
        tuple(allowed),
        source,
        note,
        tuple(hidden),
        reserved_cpus=float(config.get("reserve_cpus", 0)),
        reserved_memory=parse_size(reserve_memory)
        if isinstance(reserve_memory, str)
        else int(reserve_memory),
    )
