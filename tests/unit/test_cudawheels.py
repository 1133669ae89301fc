"""PyTorch's wheel chosen for the driver, and a built torch judged against the machine."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from evd.environments.builder import Builder
from evd.environments.cudawheels import (
    CudaDevice,
    CudaMachine,
    install_options,
    judge,
    runs_on,
    wants_torch,
)
from evd.environments.indexes import IndexSettings
from evd.environments.pythons import Interpreter
from evd.environments.spec import make_spec

CU118 = "https://download.pytorch.org/whl/cu118"
A6000 = CudaDevice(0, "NVIDIA RTX A6000", (8, 6))
MACHINE = CudaMachine("550.54.15", 12040, (A6000,))


def test_the_pytorch_family_is_recognised_by_project_name() -> None:
    assert wants_torch(["numpy", "Torch>=2.4 ; python_version >= '3.10'"])
    assert wants_torch(["torchvision==0.20"]) and wants_torch(["torch_audio"]) is False
    assert not wants_torch(["torchmetrics", "pytorch-lightning"])


@pytest.mark.parametrize(
    ("index", "chosen"),
    [
        (IndexSettings(), True),
        (
            IndexSettings(args=("--extra-index-url", "https://download.pytorch.org/whl/cu118")),
            False,
        ),
        (IndexSettings(args=("--find-links=/wheels", "--no-index")), False),
        (IndexSettings(variables=(("UV_TORCH_BACKEND", "cpu"),)), False),
        (IndexSettings(args=("--index-strategy", "unsafe-best-match")), True),
    ],
)
def test_uv_picks_the_backend_unless_the_environment_names_its_index(
    index: IndexSettings, chosen: bool
) -> None:
    args, variables = install_options(("torch==2.5.1",), index, MACHINE)
    if chosen:
        assert args == ["--torch-backend", "auto"]
        assert variables == {"UV_CUDA_DRIVER_VERSION": "550.54.15"}  # NVML's, for uv
    else:
        assert (args, variables) == ([], {})
    assert install_options(("numpy",), index, MACHINE) == ([], {})


def fake_uv(folder: Path) -> Path:
    """A ``uv`` that records its arguments and the driver version it was told, and makes a venv.

    PyTorch's own indexes are out of reach here; what evd asks uv for is what is checked.
    """
    uv = folder / "uv"
    uv.write_text(
        "#!/bin/sh\n"
        f'echo "$* | $UV_CUDA_DRIVER_VERSION" >> {folder}/calls\n'
        'if [ "$1" = venv ]; then mkdir -p "$4/bin"; fi\n'
    )
    uv.chmod(uv.stat().st_mode | stat.S_IEXEC)
    return uv


def test_the_builder_hands_uv_the_backend_and_nvmls_driver_version(tmp_path: Path) -> None:
    builder = Builder(tmp_path / "envs", tmp_path / "sdk", str(fake_uv(tmp_path)), os.environ, "")
    builder.machine = MACHINE
    python = Interpreter(path="/usr/bin/python3", version=(3, 11, 7))
    spec = make_spec(python, ["torch==2.5.1", "numpy"], IndexSettings())
    asyncio.run(builder.ensure(spec, tmp_path / "build.log"))
    install = (tmp_path / "calls").read_text().splitlines()[-1]
    assert install.startswith("pip install") and "--torch-backend auto" in install
    assert install.endswith("| 550.54.15")


@pytest.mark.parametrize(
    ("archs", "capability", "runs"),
    [
        (["sm_80", "sm_90"], (8, 6), True),  # sm_80 machine code runs on sm_86
        (["sm_86"], (8, 0), False),  # not on an older minor
        (["sm_75", "sm_90"], (8, 6), False),
        (["sm_90", "compute_90"], (12, 0), True),  # PTX is compiled for newer GPUs
        (["sm_90"], (12, 0), False),
    ],
)
def test_a_builds_architectures_run_on_a_gpu(
    archs: list[str], capability: tuple[int, int], runs: bool
) -> None:
    assert runs_on(archs, capability) is runs


def torch(cuda: str | None, archs: list[str] | None = None) -> dict[str, Any]:
    return {"version": "2.5.1", "cuda": cuda, "archs": archs or ["sm_80", "sm_86", "sm_90"]}


@pytest.mark.parametrize(
    ("built", "machine", "chosen", "says"),
    [
        (torch("12.4"), MACHINE, True, None),
        (torch("12.6"), MACHINE, True, None),  # CUDA's minor-version compatibility
        (torch("13.0"), MACHINE, True, "is built for CUDA 13.0, but the driver (550.54.15)"),
        (torch(None), MACHINE, True, "is a CPU build, so jobs would run on the CPU"),
        (torch(None), MACHINE, False, None),  # the environment's own index chose it
        (torch("12.4", ["sm_75"]), MACHINE, True, "GPU0 (NVIDIA RTX A6000) is sm_86"),
        (torch("13.0"), CudaMachine(), True, None),  # no GPU here: nothing to run on
    ],
)
def test_a_built_torch_is_judged_against_the_machine(
    built: dict[str, Any], machine: CudaMachine, chosen: bool, says: str | None
) -> None:
    reason = judge(built, machine, chosen)
    if says is None:
        assert reason is None
    else:
        assert reason is not None and says in reason
        json.dumps(reason)  # it goes into the run's reason as it is
