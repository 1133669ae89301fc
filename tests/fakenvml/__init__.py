"""The fake NVML: ``nvml.c`` built into a ``libnvidia-ml.so.1``, and the state it answers from.

A process started with ``FakeNvml.env()`` in its environment loads the fake
through ``nvidia-ml-py`` exactly as it would load the driver's library, so the
daemon's real inventory and probe code run through the real ctypes binding.
The library is built once per version of its source, with the system's ``cc``,
into the repository's git-ignored ``.cache``.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("nvml.c")
REPO = Path(__file__).resolve().parents[2]
LIBRARY = "libnvidia-ml.so.1"
GIB = 1024**3


def library_dir() -> Path:
    """The folder holding the built fake (built now if its source changed)."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    folder = REPO / ".cache" / "fakenvml" / digest
    built = folder / LIBRARY
    if built.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:  # two test processes build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            partial = folder / f"{LIBRARY}.partial"
            try:
                subprocess.run(
                    ["cc", "-shared", "-fPIC", "-O1", "-Wall",
                     f"-Wl,-soname,{LIBRARY}", "-o", str(partial), str(SOURCE)],
                    check=True,
                )  # fmt: skip
            except FileNotFoundError:
                raise RuntimeError(
                    "the GPU tests load a fake NVML built with the system's C compiler, `cc`,"
                    " which is not installed here (Debian/Ubuntu: apt install gcc)"
                ) from None
            partial.replace(built)
    return folder


def device(index: int, memory: int = 24 * GIB, **fields: Any) -> dict[str, Any]:
    """One device's state: an idle GPU of ``memory`` bytes unless ``fields`` say otherwise."""
    return {
        "name": "NVIDIA Fake A6000",
        "uuid": f"GPU-{index:08x}-fa4e-4e4d-8c1a-{index:012x}",
        "total": memory,
        "reserved": 0,
        "used": 0,
        "utilization": 0,
        "compute": [],
        "graphics": [],
        "mps": [],
        **fields,
    }


class FakeNvml:
    """The fake's state file: what the devices report, changed while evd runs."""

    def __init__(self, path: Path, devices: list[dict[str, Any]], **system: Any) -> None:
        """``devices`` as made by ``device``; ``system`` sets top-level fields (driver...)."""
        self.path = path
        self.state: dict[str, Any] = {"driver_version": "550.54.15-fake", **system}
        self.state["devices"] = copy.deepcopy(devices)
        self.write()

    @classmethod
    def gpus(cls, path: Path, count: int, memory: int = 24 * GIB, **fields: Any) -> FakeNvml:
        """``count`` alike devices of ``memory`` bytes each."""
        return cls(path, [device(index, memory, **fields) for index in range(count)])

    def env(self) -> dict[str, str]:
        """What a process needs in its environment to load the fake instead of a driver."""
        return {"LD_LIBRARY_PATH": str(library_dir()), "FAKE_NVML_STATE": str(self.path)}

    def device(self, index: int) -> dict[str, Any]:
        """Device ``index``'s state, to change (then ``write``)."""
        found: dict[str, Any] = self.state["devices"][index]
        return found

    def update(self, index: int | None = None, **fields: Any) -> None:
        """Set ``fields`` on device ``index`` (or at the top level) and write the state."""
        target = self.state if index is None else self.device(index)
        target.update(fields)
        self.write()

    def xid(self, index: int, code: int) -> None:
        """Raise Xid ``code`` on device ``index`` (delivered once)."""
        self.state.setdefault("xid", []).append([index, code])
        self.write()

    def write(self) -> None:
        """Replace the state file whole, so the fake never reads half of it."""
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.state))
        os.replace(partial, self.path)
