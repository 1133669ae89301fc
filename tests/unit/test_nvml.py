"""NVML as evd reads it through the real ``nvidia-ml-py``, answered by the fake C library.

Each test starts a Python with the fake's folder in ``LD_LIBRARY_PATH`` (the
binding opens ``libnvidia-ml.so.1`` by name, as on a GPU machine), has it read
the devices with evd's own code, and looks at what came back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakenvml import GIB, FakeNvml, device

REPO = Path(__file__).resolve().parents[2]
MIB = 1024**2

DISCOVER = "from evd.resources.inventory import discover\nprint(json.dumps(discover({}).to_dict()))"
PROBE = """
import pynvml
from evd.resources.probe import NvmlProbe
pynvml.nvmlInit()
probe = NvmlProbe(pynvml, {0, 1})
gpus = probe.read()
print(json.dumps({"watched": sorted(probe.xid.watched), "gpus": [g.to_dict() for g in gpus]}))
"""


def run_with(nvml: FakeNvml, code: str) -> Any:
    """Run ``code`` in a Python that loads the fake NVML; the JSON it printed last."""
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        env={**os.environ, **nvml.env()},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_the_binding_loads_the_fake(tmp_path: Path) -> None:
    nvml = FakeNvml(tmp_path / "nvml.json", [device(0)], driver_version="123.45-from-the-fake")
    code = (
        "import pynvml\npynvml.nvmlInit()\nprint(json.dumps(pynvml.nvmlSystemGetDriverVersion()))"
    )
    assert run_with(nvml, code) == "123.45-from-the-fake"


def test_devices_are_discovered_with_what_evd_may_hand_out(tmp_path: Path) -> None:
    nvml = FakeNvml(
        tmp_path / "nvml.json",
        [
            device(0, 24 * GIB, reserved=500 * MIB, used=GIB, name="NVIDIA RTX A6000",
                   compute=[[4242, GIB]], graphics=[[77, 10 * MIB]], mps=[[4242, 2 * GIB]]),
            device(1, 80 * GIB, utilization=35),
        ],
        nvlink=[[0, 1]],
    )  # fmt: skip
    inventory = run_with(nvml, DISCOVER)
    assert inventory["source"] == "nvml"
    first, second = inventory["gpus"]
    assert (first["name"], first["uuid"]) == ("NVIDIA RTX A6000", nvml.device(0)["uuid"])
    # The driver's reserve is neither handed out nor "used outside evd".
    assert first["memory_total"] == 24 * GIB - 500 * MIB
    assert (first["memory_used"], first["memory_reserved"]) == (GIB, 500 * MIB)
    # Compute, graphics and MPS clients, merged by pid (the larger claim kept).
    assert first["processes"] == [
        {"pid": 77, "used_memory": 10 * MIB},
        {"pid": 4242, "used_memory": 2 * GIB},
    ]
    assert (second["memory_total"], second["utilization"]) == (80 * GIB, 35)
    assert (first["links"], second["links"]) == ([1], [0])


def test_without_memory_v2_the_driver_is_read_as_before(tmp_path: Path) -> None:
    nvml = FakeNvml.gpus(tmp_path / "nvml.json", 1, reserved=500 * MIB, memory_v2=False)
    (gpu,) = run_with(nvml, DISCOVER)["gpus"]
    assert (gpu["memory_total"], gpu["memory_used"]) == (24 * GIB, 500 * MIB)


def test_a_driver_without_v3_process_lists_still_gives_its_devices(tmp_path: Path) -> None:
    nvml = FakeNvml.gpus(tmp_path / "nvml.json", 1, compute=[[1, GIB]], processes_v3=False)
    (gpu,) = run_with(nvml, DISCOVER)["gpus"]
    assert gpu["processes"] == [] and gpu["problem"] is None


def test_a_device_that_cannot_be_opened_is_kept_drained(tmp_path: Path) -> None:
    nvml = FakeNvml(tmp_path / "nvml.json", [device(0), device(1, handle_error=15)])
    first, lost = run_with(nvml, DISCOVER)["gpus"]
    assert first["problem"] is None
    assert (lost["index"], lost["problem"]) == (1, "GPU is lost")


@pytest.mark.parametrize(
    ("system", "says"),
    [
        ({"count_error": 999}, "NVML could not count the GPUs (Unknown Error)"),
        ({"init_error": 18}, "the NVIDIA driver and its NVML library are different versions"),
        ({"init_error": 9}, "no NVIDIA driver (Driver Not Loaded)"),
    ],
)
def test_nvml_that_fails_at_start_leaves_evd_without_gpus_saying_why(
    tmp_path: Path, system: dict[str, int], says: str
) -> None:
    nvml = FakeNvml(tmp_path / "nvml.json", [device(0)], **system)
    inventory = run_with(nvml, DISCOVER)
    assert (inventory["source"], inventory["gpus"]) == ("none", [])
    assert says in inventory["note"]


def test_a_programs_xid_leaves_the_device_in_use_a_devices_xid_drains_it(tmp_path: Path) -> None:
    nvml = FakeNvml(tmp_path / "nvml.json", [device(0), device(1)], xid=[[0, 31], [1, 13], [1, 79]])
    found = run_with(nvml, PROBE)
    first, second = found["gpus"]
    assert found["watched"] == [0, 1]
    assert first["problem"] is None
    assert second["problem"] == "Xid 79 (critical error; reset the GPU or reboot)"


def test_a_device_that_refuses_xid_events_leaves_the_others_watched(tmp_path: Path) -> None:
    nvml = FakeNvml(
        tmp_path / "nvml.json", [device(0, xid_error=3), device(1)], xid=[[0, 79], [1, 48]]
    )
    found = run_with(nvml, PROBE)
    assert found["watched"] == [1]
    assert found["gpus"][1]["problem"].startswith("Xid 48")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"ecc_uncorrected": 2}, "2 uncorrected ECC error(s) since the last reset"),
        ({"retired_pending": 1}, "memory pages wait to be retired: reset the GPU"),
        # A100/H100: retired pages "not supported", rows remapped instead.
        ({"retired_pending": -1, "remapped": [3, 1, 1, 0]}, "memory rows wait to be remapped"),
        ({"retired_pending": -1, "remapped": [0, 1, 0, 1]}, "a memory row could not be remapped"),
        ({"mig": 1}, "MIG mode is on: evd hands out whole GPUs"),
        ({"ecc_uncorrected": -1, "retired_pending": -1, "remapped": [5, 0, 0, 0], "mig": 0}, None),
    ],
)
def test_an_unhealthy_device_is_drained_with_the_reason(
    tmp_path: Path, fields: dict[str, Any], problem: str | None
) -> None:
    nvml = FakeNvml(tmp_path / "nvml.json", [device(0, **fields), device(1)])
    first, second = run_with(nvml, PROBE)["gpus"]
    assert second["problem"] is None
    if problem is None:
        assert first["problem"] is None
    else:
        assert first["problem"].startswith(problem)
