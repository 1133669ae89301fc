"""A torch that cannot use this machine's GPUs fails its environment's build, saying why.

PyTorch's wheels are out of reach here (its own indexes, and the registry's
multi-GB CUDA build), so each test makes a small stand-in ``torch`` wheel that
says what a real one says of itself (``torch.version.cuda``, its architecture
list) and the fake NVML says what the driver runs. The environment names its
own wheels (``[tool.uv] find-links``, ``no-index``), as one with a pinned
PyTorch index does; evd's check of the built torch runs all the same.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from tests.conftest import Evd
from tests.helpers import fake_gpus, show

TORCH = """\
__version__ = "{version}"


class version:
    cuda = {cuda!r}


class cuda:
    @staticmethod
    def get_arch_list():
        return {archs!r}
"""

JOB = """\
# /// script
# dependencies = ["torch==2.5.1"]
# [tool.uv]
# find-links = ["{wheels}"]
# no-index = true
# ///
import torch

print("cuda", torch.version.cuda)
"""


def stand_in_torch(folder: Path, cuda: str | None, archs: list[str]) -> Path:
    """A ``torch-2.5.1`` wheel whose build says ``cuda`` and ``archs``."""
    folder.mkdir(parents=True, exist_ok=True)
    local = f"+cu{cuda.replace('.', '')}" if cuda else "+cpu"
    files = {
        "torch/__init__.py": TORCH.format(version=f"2.5.1{local}", cuda=cuda, archs=archs),
        "torch-2.5.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: torch\nVersion: 2.5.1\n",
        "torch-2.5.1.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: evd-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("torch-2.5.1.dist-info/RECORD,,")
    wheel = folder / "torch-2.5.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("torch-2.5.1.dist-info/RECORD", "\n".join(record) + "\n")
    return folder


def run_job(evd: Evd, tmp_path: Path, cuda: str | None, archs: list[str]) -> str:
    wheels = stand_in_torch(tmp_path / f"wheels-{cuda}-{len(archs)}", cuda, archs)
    job = tmp_path / f"train_{len(list(tmp_path.glob('train_*.py')))}.py"
    job.write_text(JOB.format(wheels=wheels))
    return evd.cli("run", "-q", str(job), check=True).stdout.strip()


def test_a_torch_for_a_newer_cuda_than_the_driver_runs_fails_the_build(
    evd_env: Evd, tmp_path: Path
) -> None:
    fake_gpus(evd_env, 1, system={"driver_version": "520.61.05", "cuda_driver_version": 11080})
    evd_env.up()
    run_id = run_job(evd_env, tmp_path, "12.4", ["sm_80", "sm_86", "sm_90"])
    assert evd_env.cli("wait", run_id, timeout=180).returncode == 125
    run = show(evd_env, run_id)
    reason = str(run["reason"])
    assert run["state"] == "failed" and run["failed_by"] == "build", run
    assert "torch 2.5.1+cu124 is built for CUDA 12.4" in reason
    assert "the driver (520.61.05) runs CUDA up to 11.8" in reason
    assert "update the NVIDIA driver, or pin a torch built for CUDA 11.x" in reason


def test_a_torch_without_code_for_the_gpu_fails_the_build(evd_env: Evd, tmp_path: Path) -> None:
    fake_gpus(evd_env, 1, compute_capability=[12, 0], name="NVIDIA RTX PRO 6000")
    evd_env.up()
    run_id = run_job(evd_env, tmp_path, "12.4", ["sm_80", "sm_90"])
    assert evd_env.cli("wait", run_id, timeout=180).returncode == 125
    reason = str(show(evd_env, run_id)["reason"])
    assert "GPU0 (NVIDIA RTX PRO 6000) is sm_120, which none of them runs on" in reason


def test_a_fitting_torch_builds_and_envs_ls_shows_its_cuda(evd_env: Evd, tmp_path: Path) -> None:
    fake_gpus(evd_env, 1, system={"cuda_driver_version": 12040})
    evd_env.up()
    run_id = run_job(evd_env, tmp_path, "12.1", ["sm_80", "sm_86"])
    assert evd_env.cli("wait", run_id, timeout=180).returncode == 0
    assert evd_env.cli("logs", run_id).stdout.strip().endswith("cuda 12.1")
    listed = evd_env.cli("envs", "ls", check=True).stdout
    assert "[torch 2.5.1+cu121 (CUDA 12.1)] torch==2.5.1" in listed
