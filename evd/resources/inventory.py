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
from typing import Any

import psutil

from evd.resources.devices import Gpu
from evd.resources.nvml import load_nvml, read_driver, read_links, read_nvml
from evd.units import parse_size

_FAKE_PART = re.compile(r"(?:(\d+)\s*x\s*)?(\d+(?:\.\d+)?\s*[A-Za-z]*)")


@dataclass(frozen=True)
class Inventory:
    """The machine's capacity as evd may use it."""

    cpus: int
    memory: int
    gpus: tuple[Gpu, ...] = ()
    source: str = "none"  # nvml | fake | none
    note: str | None = None  # why there are no GPUs; what of CUDA_VISIBLE_DEVICES was ignored
    hidden: tuple[int, ...] = field(default=())  # devices CUDA_VISIBLE_DEVICES keeps from evd
    reserved_cpus: float = 0.0  # kept back for the desktop (config [resources])
    reserved_memory: int = 0
    driver_version: str | None = None  # the NVIDIA driver's (``550.54.15``), from NVML
    cuda_version: int | None = None  # the newest CUDA the driver runs (``12040`` is 12.4)
    # Jobs are given GPU UUIDs, not indexes, in CUDA_VISIBLE_DEVICES: CUDA skips a device
    # here (MIG mode, one NVML cannot open), so its numbering is not NVML's.
    uuids_for_jobs: bool = False

    def cuda_ids(self) -> dict[int, str] | None:
        """What jobs' ``CUDA_VISIBLE_DEVICES`` names each device by (``None``: its index)."""
        return {gpu.index: gpu.uuid for gpu in self.gpus} if self.uuids_for_jobs else None

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
            "driver_version": self.driver_version,
            "cuda_version": self.cuda_version,
            "uuids_for_jobs": self.uuids_for_jobs,
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


def _with_links(gpus: list[Gpu], links: dict[int, set[int]]) -> list[Gpu]:
    return [dataclasses.replace(gpu, links=tuple(sorted(links.get(gpu.index, ())))) for gpu in gpus]


def _names(item: str, gpu: Gpu) -> bool:
    """Whether a config entry (an index, or a UUID prefix beyond ``GPU-``) names ``gpu``."""
    if item.isdigit():
        return gpu.index == int(item)
    return item.startswith("GPU-") and len(item) > 4 and gpu.uuid.startswith(item)


def visible(
    gpus: list[Gpu], cuda_visible_devices: str | None, order: str | None = None
) -> tuple[list[Gpu], list[int], str | None]:
    """The devices a ``CUDA_VISIBLE_DEVICES`` on the daemon allows, the indexes of the rest, a note.

    Entries are read as CUDA reads them, left to right: an index, or a prefix
    of one device's UUID (``GPU-8f3a``). The first entry that names no single
    device (an index out of range, a prefix of none or of several, a MIG
    instance) ends the list, and the note says so. ``order`` is the daemon's
    ``CUDA_DEVICE_ORDER``: indexes are NVML's (PCI bus order), and the note
    says so when CUDA would count otherwise.
    """
    if cuda_visible_devices is None:
        return gpus, [], None
    chosen: list[Gpu] = []
    stopped = None
    numbered = False
    for item in (part.strip() for part in cuda_visible_devices.split(",")):
        if item.isdigit():
            numbered = True
            found = [gpu for gpu in gpus if gpu.index == int(item)]
        elif item.startswith("GPU-"):
            found = [gpu for gpu in gpus if gpu.uuid.startswith(item)]
        else:
            found = []
        if len(found) != 1:
            stopped = item
            break
        if found[0] not in chosen:
            chosen.append(found[0])
    allowed = [gpu for gpu in gpus if gpu in chosen]
    hidden = [gpu.index for gpu in gpus if gpu not in chosen]
    notes = []
    if stopped:
        notes.append(
            f"the daemon's CUDA_VISIBLE_DEVICES ends at {stopped!r}, which names"
            f" {_what_it_names(stopped, gpus)}; CUDA ignores it and what follows, and so does evd"
        )
    if numbered and order != "PCI_BUS_ID" and len(gpus) > 1:
        notes.append(
            "the daemon's CUDA_VISIBLE_DEVICES numbers GPUs as NVML does (PCI bus order);"
            " without CUDA_DEVICE_ORDER=PCI_BUS_ID, CUDA may number them otherwise: use UUIDs"
        )
    return allowed, hidden, " ".join(notes) or None


def _what_it_names(entry: str, gpus: list[Gpu]) -> str:
    """What an entry of ``CUDA_VISIBLE_DEVICES`` that names no single device names instead."""
    if entry.startswith("MIG-"):
        return "a MIG instance, and evd hands out whole GPUs"
    if entry == "GPU-":
        return "every GPU (a UUID prefix must name one)"
    if entry.startswith("GPU-") and any(gpu.uuid.startswith(entry) for gpu in gpus):
        return "no single GPU: give more of its UUID"
    return "no GPU of this machine"


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
    driver: tuple[str | None, int | None] = (None, None)
    if fake:
        gpus, source, note = parse_fake_gpus(fake), "fake", None
        nvlink = environ.get("EVD_FAKE_NVLINK") or config.get("fake_nvlink") or ""
        gpus = _with_links(gpus, parse_links(nvlink, len(gpus)))
    else:
        nvml, note = load_nvml()
        gpus, source = [], "none"
        if nvml is not None:
            driver = read_driver(nvml)
            gpus, note = read_nvml(nvml)
            source = "nvml" if gpus or note is None else "none"
        if nvml is not None and len(gpus) > 1:
            gpus = _with_links(gpus, read_links(nvml, len(gpus)))
    uuids_for_jobs = source == "nvml" and not all(gpu.cuda_counts for gpu in gpus)
    allowed, hidden, seen = visible(
        gpus, environ.get("CUDA_VISIBLE_DEVICES"), environ.get("CUDA_DEVICE_ORDER")
    )
    note = " ".join(filter(None, [note, seen])) or None
    hide = [str(item) for item in config.get("hide_gpus", [])]
    if hide:
        shown = [gpu for gpu in allowed if any(_names(item, gpu) for item in hide)]
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
        driver_version=driver[0],
        cuda_version=driver[1],
        uuids_for_jobs=uuids_for_jobs,
    )
