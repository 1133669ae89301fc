"""The inventory: fake GPUs, NVML read through a small fake, CUDA_VISIBLE_DEVICES on the daemon."""

from dataclasses import dataclass
from typing import Any

import pytest

from evd.resources.inventory import GpuProcess, discover, parse_fake_gpus, read_nvml, visible

GIB = 1024**3


def test_fake_gpus_are_described_by_count_and_size() -> None:
    gpus = parse_fake_gpus("2x80GiB, 24GiB")
    assert [(g.index, g.memory_total) for g in gpus] == [
        (0, 80 * GIB),
        (1, 80 * GIB),
        (2, 24 * GIB),
    ]
    assert len({g.uuid for g in gpus}) == 3
    with pytest.raises(ValueError, match="write COUNTxSIZE"):
        parse_fake_gpus("lots")


@dataclass
class Memory:
    total: int
    used: int


@dataclass
class Utilization:
    gpu: int


@dataclass
class Process:
    pid: int
    usedGpuMemory: int | None


class LostGpu(Exception):
    pass


class FakeNvml:
    """Two devices; the second one is lost (NVML raises for it)."""

    def nvmlInit(self) -> None:
        return None

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index == 1:
            raise LostGpu("GPU is lost")
        return index

    def nvmlDeviceGetUUID(self, handle: Any) -> bytes:
        return b"GPU-1234"

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return "NVIDIA H100"

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Memory:
        return Memory(total=80 * GIB, used=3 * GIB)

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Utilization:
        return Utilization(gpu=42)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Process]:
        return [Process(pid=4242, usedGpuMemory=None)]


def test_nvml_devices_are_read_and_a_lost_one_is_kept_with_its_problem() -> None:
    first, lost = read_nvml(FakeNvml())
    assert (first.uuid, first.name, first.memory_total, first.memory_used) == (
        "GPU-1234",
        "NVIDIA H100",
        80 * GIB,
        3 * GIB,
    )
    assert first.utilization == 42 and first.processes == (GpuProcess(4242, None),)
    assert first.problem is None
    assert lost.index == 1 and lost.problem == "GPU is lost"


def test_the_daemons_cuda_visible_devices_limits_what_evd_uses() -> None:
    gpus = parse_fake_gpus("4x24GiB")
    allowed, hidden = visible(gpus, "2,GPU-fake-0000")
    assert [g.index for g in allowed] == [0, 2] and hidden == [1, 3]
    assert visible(gpus, "") == ([], [0, 1, 2, 3])
    assert visible(gpus, None) == (gpus, [])


def test_discover_without_a_driver_has_no_gpus_and_says_why() -> None:
    inventory = discover({})
    assert inventory.cpus >= 1 and inventory.memory > 0
    if inventory.source == "none":  # the usual CI machine
        assert inventory.gpus == () and inventory.note
    faked = discover({"EVD_FAKE_GPUS": "2x16GiB", "CUDA_VISIBLE_DEVICES": "1"})
    assert faked.source == "fake" and [g.index for g in faked.gpus] == [1]
    assert faked.hidden == (0,)
