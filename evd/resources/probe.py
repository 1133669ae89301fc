"""Reading the GPUs' state while the daemon runs: memory, utilisation, processes, health.

The inventory says what devices exist (once, at start); a probe says how they
are now, every few seconds: who uses how much memory, and whether a device is
still healthy. Three kinds:

* ``NvmlProbe``: NVML, plus health checks (uncorrected ECC errors, pages or
  rows waiting to be retired or remapped, MIG mode, Xid critical errors, a
  device that stopped answering; see ``evd.resources.nvml``).
* ``FakeProbe``: the ``EVD_FAKE_GPUS`` devices, idle and healthy, for trying
  evd's GPU scheduling on a machine without GPUs. (The tests drive NVML's
  own answers instead, through a fake ``libnvidia-ml.so.1``: ``tests/fakenvml``.)
* ``NoProbe``: no GPUs.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

from evd.resources.devices import Gpu
from evd.resources.inventory import Inventory
from evd.resources.nvml import Nvml, XidWatch, load_nvml, read_nvml

log = logging.getLogger("evd.probe")


class GpuProbe(Protocol):
    """Something that reads the devices' state now."""

    def read(self) -> list[Gpu]:
        """The devices evd may use, as they are now (called off the event loop)."""
        ...


class NoProbe:
    """A machine with no GPUs."""

    def read(self) -> list[Gpu]:
        """Nothing."""
        return []


class FakeProbe:
    """The ``EVD_FAKE_GPUS`` devices, idle and healthy (a demonstration, not a test double)."""

    def __init__(self, gpus: tuple[Gpu, ...]) -> None:
        """Report ``gpus`` as they are."""
        self.gpus = gpus

    def read(self) -> list[Gpu]:
        """The fake devices."""
        return list(self.gpus)


class NvmlProbe:
    """NVML's view of the devices evd may use, with their health and Xid errors."""

    def __init__(self, nvml: Nvml, allowed: set[int]) -> None:
        """Read through ``nvml``; report only devices in ``allowed``."""
        self.nvml = nvml
        self.allowed = allowed
        self.xid = XidWatch(nvml, allowed)

    def read(self) -> list[Gpu]:
        """Every allowed device now; one that cannot be read carries the error as its problem."""
        self.xid.poll()
        gpus, _note = read_nvml(self.nvml)
        return [
            dataclasses.replace(gpu, problem=gpu.problem or self.xid.problems.get(gpu.index))
            for gpu in gpus
            if gpu.index in self.allowed
        ]


def probe_for(inventory: Inventory) -> GpuProbe:
    """The probe that matches how ``inventory`` found its GPUs."""
    if inventory.source == "fake":
        return FakeProbe(inventory.gpus)
    if inventory.source == "nvml":
        nvml, _note = load_nvml()
        if nvml is not None:
            return NvmlProbe(nvml, {gpu.index for gpu in inventory.gpus})
    return NoProbe()
