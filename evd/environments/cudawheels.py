"""PyTorch on a wheel that runs here: uv picks the CUDA build for the driver, evd checks the pick.

The commonest failure of a GPU job on a workstation is not the job's: ``pip
install torch`` brings a wheel built for a CUDA newer than the driver runs
(CUDA errors at the first tensor), for GPUs older or newer than the ones here
("no kernel image is available"), or a CPU build, and the job quietly trains
on the CPU. So an environment that asks for the PyTorch family and names no
index of its own is installed with uv's ``--torch-backend auto``, told the
driver version NVML reports (``UV_CUDA_DRIVER_VERSION``; uv would otherwise
look for it in ``/sys`` and ``nvidia-smi``). Every environment with ``torch``
in it is then checked against the machine: the CUDA its wheel was built for
against the driver's, and each GPU's compute capability against the wheel's
architectures. A mismatch fails the build with both figures and the fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from evd.environments.indexes import IndexSettings

# What uv's --torch-backend chooses the index for (PyTorch's own wheels).
TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio"})
# Arguments and variables by which an environment names where packages come from.
OWN_INDEX_ARGS = (
    "--index", "--index-url", "--default-index", "--extra-index-url", "--find-links",
    "--no-index", "--torch-backend", "-i", "-f",
)  # fmt: skip
OWN_INDEX_VARIABLES = (
    "UV_INDEX", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS",
    "UV_NO_INDEX", "UV_TORCH_BACKEND",
)  # fmt: skip
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")

# Run by the built venv's Python: what torch says of its build (nothing if there is none).
PROBE = """\
import json
try:
    import torch
except ImportError:
    print(json.dumps(None))
else:
    try:
        archs = list(torch.cuda.get_arch_list())
    except Exception:
        archs = []
    print(json.dumps({"version": torch.__version__, "cuda": torch.version.cuda, "archs": archs}))
"""


@dataclass(frozen=True)
class CudaDevice:
    """A GPU as the check needs it."""

    index: int
    name: str
    capability: tuple[int, int]  # (8, 6) is sm_86


@dataclass(frozen=True)
class CudaMachine:
    """What the driver can run: its version, the newest CUDA it runs, its GPUs."""

    driver_version: str | None = None  # 550.54.15
    cuda_version: int | None = None  # 12040 is CUDA 12.4
    devices: tuple[CudaDevice, ...] = field(default=())


def project_name(requirement: str) -> str:
    """The project a requirement names, normalised (``Torch==2.5 ; ...`` is ``torch``)."""
    match = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def wants_torch(requirements: tuple[str, ...] | list[str]) -> bool:
    """Whether the environment asks for the PyTorch family."""
    return any(project_name(r) in TORCH_FAMILY for r in requirements)


def names_own_index(index: IndexSettings) -> bool:
    """Whether the environment (or evd's config) says where packages come from."""
    flags = {arg.split("=", 1)[0] for arg in index.args}
    variables = {name for name, _value in index.variables}
    return bool(flags & set(OWN_INDEX_ARGS) or variables & set(OWN_INDEX_VARIABLES))


def install_options(
    requirements: tuple[str, ...], index: IndexSettings, machine: CudaMachine
) -> tuple[list[str], dict[str, str]]:
    """The extra ``uv pip install`` arguments and variables that pick PyTorch's wheel."""
    if not wants_torch(requirements) or names_own_index(index):
        return [], {}
    variables = {}
    if machine.driver_version:
        variables["UV_CUDA_DRIVER_VERSION"] = machine.driver_version
    return ["--torch-backend", "auto"], variables


def cuda_text(version: int) -> str:
    """``12040`` as ``12.4``."""
    return f"{version // 1000}.{version % 1000 // 10}"


def _cuda_number(text: str) -> int | None:
    """``12.4`` as ``12040``."""
    major, _, minor = text.partition(".")
    if not major.isdigit():
        return None
    return int(major) * 1000 + (int(minor.split(".")[0]) if minor[:1].isdigit() else 0) * 10


def read_probe(output: str) -> dict[str, Any] | None:
    """What ``PROBE`` printed (``None``: no torch in the venv)."""
    lines = output.strip().splitlines()
    found: dict[str, Any] | None = json.loads(lines[-1]) if lines else None
    return found


def runs_on(archs: list[str], capability: tuple[int, int]) -> bool:
    """Whether a build for ``archs`` has code a GPU of ``capability`` runs.

    Machine code for ``sm_XY`` runs on the same major version at a minor of Y
    or more; PTX for ``compute_XY`` is compiled for any newer GPU by the driver.
    """
    for arch in archs:
        kind, _, digits = arch.partition("_")
        if not digits.isdigit() or len(digits) < 2:
            continue
        built = (int(digits[:-1]), int(digits[-1]))
        if kind == "sm" and built[0] == capability[0] and built[1] <= capability[1]:
            return True
        if kind == "compute" and built <= capability:
            return True
    return False


def judge(torch: dict[str, Any], machine: CudaMachine, backend_chosen: bool) -> str | None:
    """Why the built torch cannot use this machine's GPUs (``None``: it can, or no GPU here)."""
    if not machine.devices or machine.cuda_version is None:
        return None
    version = torch.get("version", "?")
    driver = f"the driver ({machine.driver_version or 'NVIDIA'}) runs CUDA up to"
    runs = cuda_text(machine.cuda_version)
    built_for = torch.get("cuda")
    if not built_for:
        if not backend_chosen:
            return None  # the environment chose its own index: a CPU build is its choice
        return (
            f"torch {version} is a CPU build, so jobs would run on the CPU of a machine with"
            f" {len(machine.devices)} GPU(s) ({driver} {runs}); name PyTorch's CUDA index for"
            f" it (e.g. https://download.pytorch.org/whl/cu{runs.replace('.', '')})"
        )
    needed = _cuda_number(str(built_for))
    if needed is not None and needed // 1000 > machine.cuda_version // 1000:
        return (
            f"torch {version} is built for CUDA {built_for}, but {driver} {runs}: update the"
            f" NVIDIA driver, or pin a torch built for CUDA {machine.cuda_version // 1000}.x"
            f" (PyTorch's index https://download.pytorch.org/whl/cu{runs.replace('.', '')})"
        )
    archs = [str(arch) for arch in torch.get("archs") or []]
    for device in machine.devices:
        if archs and not runs_on(archs, device.capability):
            sm = f"sm_{device.capability[0]}{device.capability[1]}"
            return (
                f"torch {version} has GPU code for {', '.join(archs)}; GPU{device.index}"
                f" ({device.name}) is {sm}, which none of them runs on: use a torch built"
                f" for {sm} (a newer one for a newer GPU, an older one for an older GPU)"
            )
    return None


def describe(torch: dict[str, Any] | None) -> str | None:
    """``torch 2.5.1+cu124 (CUDA 12.4)`` for ``evd envs ls``; ``None`` without torch."""
    if torch is None:
        return None
    cuda = torch.get("cuda")
    return f"torch {torch.get('version')} ({'CUDA ' + str(cuda) if cuda else 'CPU'})"
