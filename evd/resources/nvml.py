"""NVML through ``nvidia-ml-py``: each device as a real driver reports it, read the way it must be.

What a real machine does that a Python stand-in never did (each is tested
through the fake ``libnvidia-ml.so.1`` in ``tests/fakenvml``, loaded by the
real binding):

* **Memory.** NVML's v1 ``used`` counts the driver's reserved memory, a few
  hundred MiB on an idle device: read as "used outside evd", it made the
  second of two ``--gpus 0.5`` shares wait forever. ``nvmlMemory_v2`` reports
  ``reserved`` apart; evd hands out ``total - reserved`` and counts only
  ``used`` as outside use. Drivers without v2 are read with v1, as before.
* **Processes.** Compute, graphics (EGL, Vulkan) and MPS clients are separate
  lists; a job may be in any of them. They are merged by pid.
* **Health.** Uncorrected ECC errors; pages waiting to be retired, or on
  A100/H100 (which report retired pages as not supported) rows waiting to be
  remapped or a failed remapping; MIG mode on (evd hands out whole devices).
* **Xid events.** Registered device by device, so one device that refuses
  does not turn the watch off for the others. Xids a program causes (13, 31
  an illegal memory access, 43, 45, 68: the list NVIDIA's device plugin skips)
  are logged and leave the device in service; any other drains it.
* **Start.** A failing device count or a driver/library version mismatch is
  said as what it is, and evd runs on without GPUs rather than not at all.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from evd.resources.devices import Gpu, GpuProcess

log = logging.getLogger("evd.nvml")

# nvidia-ml-py is untyped; its module is passed around as this.
Nvml = Any

# Xids a program causes; the device stays healthy (NVIDIA's k8s device plugin skips these).
APPLICATION_XIDS = frozenset({13, 31, 43, 45, 68})
_LIB_RM_VERSION_MISMATCH = 18
_NO_DRIVER = (9, 12)  # DRIVER_NOT_LOADED, LIBRARY_NOT_FOUND
_NVML_VALUE_NOT_AVAILABLE = 2**64 - 1


def load_nvml() -> tuple[Nvml | None, str | None]:
    """NVML, initialised; or ``None`` and why not (no driver is not an error)."""
    try:
        import pynvml  # noqa: PLC0415 (the daemon only, and only when there is no fake)
    except ImportError:
        return None, "nvidia-ml-py is not installed: no GPUs"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return None, init_failure(getattr(error, "value", None), str(error))
    return pynvml, None


def init_failure(code: int | None, message: str) -> str:
    """Why NVML did not start, in words that say what to do."""
    if code == _LIB_RM_VERSION_MISMATCH:
        return (
            f"the NVIDIA driver and its NVML library are different versions ({message}):"
            " reboot, or reload the nvidia kernel module, to use the GPUs; evd runs without them"
        )
    if code in _NO_DRIVER:
        return f"no NVIDIA driver ({message}): this machine has no GPUs evd can use"
    return f"NVML could not start ({message}): evd runs without GPUs"


def device_count(nvml: Nvml) -> tuple[int, str | None]:
    """How many devices NVML reports, or 0 and why it could not say."""
    try:
        return int(nvml.nvmlDeviceGetCount()), None
    except Exception as error:  # NVMLError of any kind: run without GPUs, say why
        return 0, f"NVML could not count the GPUs ({error}): evd runs without them"


def read_memory(nvml: Nvml, handle: Any) -> tuple[int, int, int]:
    """The device's usable total, what is used on it, and what the driver keeps (bytes)."""
    try:
        memory = nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
    except Exception:  # a driver before v2 (or one that refuses it): v1, reserved inside "used"
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        return int(memory.total), int(memory.used), 0
    reserved = int(memory.reserved)
    return int(memory.total) - reserved, int(memory.used), reserved


_PROCESS_LISTS = (
    ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses_v2"),
    ("nvmlDeviceGetGraphicsRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses_v2"),
    ("nvmlDeviceGetMPSComputeRunningProcesses", "nvmlDeviceGetMPSComputeRunningProcesses_v2"),
)


def read_processes(nvml: Nvml, handle: Any) -> tuple[GpuProcess, ...]:
    """Every process on the device: compute, graphics and MPS clients, merged by pid."""
    found: dict[int, int | None] = {}
    for names in _PROCESS_LISTS:
        for name in names:  # the newest the driver has (v3, else v2)
            try:
                listed = getattr(nvml, name)(handle)
            except Exception:
                continue
            for process in listed:
                used = process.usedGpuMemory
                used = None if used is None or used == _NVML_VALUE_NOT_AVAILABLE else int(used)
                pid = int(process.pid)
                known = found.get(pid)
                found[pid] = used if known is None else max(known, used or 0)
            break
    return tuple(GpuProcess(pid, used) for pid, used in sorted(found.items()))


def read_health(nvml: Nvml, handle: Any, mig: bool) -> str | None:
    """Why the device must not be used now (memory errors, MIG mode ``mig``), or ``None``."""
    try:
        errors = nvml.nvmlDeviceGetTotalEccErrors(
            handle, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
        )
        if errors:
            return f"{errors} uncorrected ECC error(s) since the last reset"
    except Exception:  # ECC off or not supported
        pass
    problem = _retired_pages(nvml, handle)
    if problem is not None:
        return problem
    if mig:
        return (
            "MIG mode is on: evd hands out whole GPUs, not MIG instances;"
            " turn it off (nvidia-smi -i INDEX -mig 0) to use this GPU"
        )
    return None


def mig_enabled(nvml: Nvml, handle: Any) -> bool:
    """Whether the device is in MIG mode (CUDA then sees its instances, not the device)."""
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except Exception:  # no MIG on this device
        return False
    return bool(current)


def _retired_pages(nvml: Nvml, handle: Any) -> str | None:
    try:
        if nvml.nvmlDeviceGetRetiredPagesPendingStatus(handle):
            return "memory pages wait to be retired: reset the GPU"
        return None
    except Exception:  # A100/H100 remap rows instead, and say "not supported" here
        pass
    try:
        _corrected, _uncorrected, pending, failed = nvml.nvmlDeviceGetRemappedRows(handle)
    except Exception:
        return None
    if failed:
        return "a memory row could not be remapped: the GPU needs service"
    if pending:
        return "memory rows wait to be remapped: reset the GPU"
    return None


def read_nvml(nvml: Nvml) -> tuple[list[Gpu], str | None]:
    """Every device NVML reports, with memory, utilisation and processes; and a note if any.

    A device whose details cannot be read is kept, marked with the problem, so
    it is drained rather than silently lost.
    """
    count, note = device_count(nvml)
    gpus = []
    for index in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            total, used, reserved = read_memory(nvml, handle)
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            name = _text(nvml.nvmlDeviceGetName(handle))
        except Exception as error:  # NVMLError_GpuIsLost, NoPermission and friends
            unread = Gpu(index, f"GPU-unreadable-{index}", "unknown", 0, problem=str(error))
            gpus.append(dataclasses.replace(unread, cuda_counts=False))
            continue
        try:
            utilization: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # not supported on every device
            utilization = None
        try:
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            capability: tuple[int, int] | None = (int(major), int(minor))
        except Exception:
            capability = None
        mig = mig_enabled(nvml, handle)
        gpus.append(
            Gpu(
                index,
                uuid,
                name,
                total,
                used,
                utilization,
                read_processes(nvml, handle),
                problem=read_health(nvml, handle, mig),
                memory_reserved=reserved,
                compute_capability=capability,
                cuda_counts=not mig,
            )
        )
    return gpus, note


def read_driver(nvml: Nvml) -> tuple[str | None, int | None]:
    """The driver's version (``550.54.15``) and the CUDA version it supports (``12040``)."""
    try:
        version: str | None = _text(nvml.nvmlSystemGetDriverVersion())
    except Exception:
        version = None
    try:
        cuda: int | None = int(nvml.nvmlSystemGetCudaDriverVersion())
    except Exception:
        cuda = None
    return version, cuda


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def read_links(nvml: Nvml, count: int) -> dict[int, set[int]]:
    """Which devices NVML says are joined by NVLink (``{}`` where it cannot say)."""
    links: dict[int, set[int]] = {}
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        for a in range(count):
            for b in range(a + 1, count):
                status = nvml.nvmlDeviceGetP2PStatus(
                    handles[a], handles[b], nvml.NVML_P2P_CAPS_INDEX_NVLINK
                )
                if status == nvml.NVML_P2P_STATUS_OK:
                    links.setdefault(a, set()).add(b)
                    links.setdefault(b, set()).add(a)
    except Exception:  # old drivers, lost devices: no topology, plain lowest-index choice
        return {}
    return links


class XidWatch:
    """Xid critical errors of the watched devices; a device's last serious one drains it."""

    def __init__(self, nvml: Nvml, devices: set[int]) -> None:
        """Register each of ``devices``; one that refuses is left unwatched, alone."""
        self.nvml = nvml
        self.problems: dict[int, str] = {}  # sticky: the device stays drained until evd restarts
        self.watched: set[int] = set()
        try:
            self._events: Any = nvml.nvmlEventSetCreate()
        except Exception as error:  # not supported (some cards, containers): ECC checks remain
            log.info("cannot watch GPUs for Xid errors: %s", error)
            self._events = None
            return
        for index in sorted(devices):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                nvml.nvmlDeviceRegisterEvents(
                    handle, nvml.nvmlEventTypeXidCriticalError, self._events
                )
            except Exception as error:
                log.info("cannot watch GPU%s for Xid errors: %s", index, error)
                continue
            self.watched.add(index)

    def poll(self) -> None:
        """Take the events that came since the last poll (never waits)."""
        if self._events is None:
            return
        for _ in range(64):
            try:
                event = self.nvml.nvmlEventSetWait_v2(self._events, 0)
            except Exception:  # NVMLError_Timeout: nothing more
                return
            try:
                index = int(self.nvml.nvmlDeviceGetIndex(event.device))
            except Exception:
                continue
            xid = int(event.eventData)
            if xid in APPLICATION_XIDS:
                log.info(
                    "GPU%s: Xid %s, an error of the program using it; it stays in use", index, xid
                )
                continue
            self.problems[index] = f"Xid {xid} (critical error; reset the GPU or reboot)"
