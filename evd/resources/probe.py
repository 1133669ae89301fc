"""Reading the GPUs' state while the daemon runs: memory, utilisation, processes, health.

The inventory says what devices exist (once, at start); a probe says how they
are now, every few seconds: who uses how much memory, and whether a device is
still healthy. Three kinds:

* ``NvmlProbe``: NVML, plus health checks (uncorrected ECC errors, pages
  waiting to be retired, Xid critical errors, a device that stopped answering).
* ``FakeProbe``: the ``EVD_FAKE_GPUS`` devices. What they report can be set in
  ``$EVD_HOME/fake-gpus.json``, so the paths that react to GPU processes,
  outside use and faults run on machines without GPUs::

      {"processes": [{"gpu": 0, "pid": 4242, "memory": "6GiB"}],
       "utilization": {"0": 80},
       "problems": {"1": "Xid 79: fallen off the bus"}}

* ``NoProbe``: no GPUs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Protocol

import psutil

from evd.resources.inventory import Gpu, GpuProcess, Inventory, Nvml, load_nvml, read_nvml
from evd.units import parse_size

log = logging.getLogger("evd.probe")

FAKE_STATE_FILE = "fake-gpus.json"


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
    """The fake GPUs, with what ``fake-gpus.json`` says they are doing."""

    def __init__(self, gpus: tuple[Gpu, ...], state_file: Path) -> None:
        """Report ``gpus``, overlaid with ``state_file`` when it exists."""
        self.gpus = gpus
        self.state_file = state_file

    def read(self) -> list[Gpu]:
        """The fake devices as the state file describes them."""
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return list(self.gpus)
        except (OSError, ValueError) as error:
            log.warning("ignoring %s: %s", self.state_file, error)
            return list(self.gpus)
        processes: dict[int, list[GpuProcess]] = {}
        for entry in state.get("processes", []):
            if not psutil.pid_exists(int(entry["pid"])):
                continue  # NVML lists only live processes
            memory = entry.get("memory", 0)
            used = parse_size(memory) if isinstance(memory, str) else int(memory)
            processes.setdefault(int(entry["gpu"]), []).append(GpuProcess(int(entry["pid"]), used))
        utilization = {int(k): int(v) for k, v in state.get("utilization", {}).items()}
        problems = {int(k): str(v) for k, v in state.get("problems", {}).items()}
        return [
            dataclasses.replace(
                gpu,
                processes=tuple(processes.get(gpu.index, ())),
                memory_used=sum(p.used_memory or 0 for p in processes.get(gpu.index, ())),
                utilization=utilization.get(gpu.index, 0),
                problem=problems.get(gpu.index, gpu.problem),
            )
            for gpu in self.gpus
        ]


class NvmlProbe:
    """NVML's view of the devices evd may use, with health checks."""

    def __init__(self, nvml: Nvml, allowed: set[int]) -> None:
        """Read through ``nvml``; report only devices in ``allowed``."""
        self.nvml = nvml
        self.allowed = allowed
        self.xid: dict[int, str] = {}  # sticky: a device with a critical Xid stays drained
        self._events = self._register_xid_events()

    def _register_xid_events(self) -> Any:
        nvml: Any = self.nvml
        try:
            events = nvml.nvmlEventSetCreate()
            for index in self.allowed:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, events)
        except Exception as error:  # not supported (some cards, containers): ECC checks remain
            log.info("cannot watch GPUs for Xid errors: %s", error)
            return None
        return events

    def _poll_xid(self) -> None:
        nvml: Any = self.nvml
        if self._events is None:
            return
        for _ in range(64):
            try:
                event = nvml.nvmlEventSetWait_v2(self._events, 0)
            except Exception:  # NVMLError_Timeout: nothing more
                return
            try:
                index = int(nvml.nvmlDeviceGetIndex(event.device))
            except Exception:
                continue
            self.xid[index] = f"Xid {event.eventData} (critical error; reset or reboot)"

    def _health(self, index: int) -> str | None:
        nvml: Any = self.nvml
        if index in self.xid:
            return self.xid[index]
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            errors = nvml.nvmlDeviceGetTotalEccErrors(
                handle, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
            )
            if errors:
                return f"{errors} uncorrected ECC error(s) since the last reset"
            pending = nvml.nvmlDeviceGetRetiredPagesPendingStatus(handle)
            if pending:
                return "memory pages wait to be retired: reset the GPU"
        except Exception:  # ECC off or not supported: nothing to say
            return None
        return None

    def read(self) -> list[Gpu]:
        """Every allowed device now; one that cannot be read carries the error as its problem."""
        self._poll_xid()
        gpus = []
        for gpu in read_nvml(self.nvml):
            if gpu.index not in self.allowed:
                continue
            problem = gpu.problem or self._health(gpu.index)
            gpus.append(dataclasses.replace(gpu, problem=problem))
        return gpus


def probe_for(inventory: Inventory, state_root: Path) -> GpuProbe:
    """The probe that matches how ``inventory`` found its GPUs."""
    if inventory.source == "fake":
        return FakeProbe(inventory.gpus, state_root / FAKE_STATE_FILE)
    if inventory.source == "nvml":
        nvml, _note = load_nvml()
        if nvml is not None:
            return NvmlProbe(nvml, {gpu.index for gpu in inventory.gpus})
    return NoProbe()
