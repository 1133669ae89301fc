"""``make gpu-check``: evd on a real NVIDIA GPU, checked in a few minutes and printed as a table.

Run it on a machine with an NVIDIA driver. It starts a daemon in a temporary
state dir and checks, through jobs that talk to the CUDA driver directly
(``libcuda.so.1`` via ctypes, so no package has to be downloaded):

* discovery: evd's GPUs are ``nvidia-smi``'s (index, UUID, name, memory);
* confinement: a ``--gpus 1`` job's CUDA sees one device, the one evd gave it;
* sharing: two ``--gpus 0.5 --gpu-memory`` jobs run on one device together,
  and a third waits, saying for what;
* attribution: NVML's view of a job holding GPU memory is the run's
  (``evd show``'s GPU memory peak);
* memory limits: the mechanism in force, and a job over its ``--memory`` stopped.

Without a GPU it says so in one line and exits 77 (the "skipped" of automake
and meson), at once. It is kept out of ``make test``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SKIPPED = 77
MIB = 1024**2

CUDA = r"""
import ctypes, json, sys, time
cuda = ctypes.CDLL("libcuda.so.1")
assert cuda.cuInit(0) == 0, "cuInit failed"
count = ctypes.c_int()
cuda.cuDeviceGetCount(ctypes.byref(count))
uuids = []
for index in range(count.value):
    device = ctypes.c_int()
    cuda.cuDeviceGet(ctypes.byref(device), index)
    raw = (ctypes.c_ubyte * 16)()
    cuda.cuDeviceGetUuid(raw, device)
    h = bytes(raw).hex()
    uuids.append(f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
print(json.dumps({"count": count.value, "uuids": uuids}), flush=True)
hold = float(sys.argv[1]) if len(sys.argv) > 1 else 0
if hold and count.value:
    context, pointer = ctypes.c_void_p(), ctypes.c_void_p()
    cuda.cuCtxCreate_v2(ctypes.byref(context), 0, 0)
    cuda.cuMemAlloc_v2(ctypes.byref(pointer), ctypes.c_size_t(512 * 2**20))
    time.sleep(hold)
"""


def gpu_missing() -> str | None:
    """Why this machine cannot be checked, or ``None``."""
    if shutil.which("nvidia-smi") is None:
        return "no nvidia-smi: this machine has no NVIDIA driver"
    done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    if done.returncode != 0 or "GPU" not in done.stdout:
        return f"nvidia-smi finds no GPU ({(done.stderr or done.stdout).strip()[:200]})"
    return None


class Daemon:
    """evd in a temporary state dir, driven through its CLI."""

    def __init__(self, home: Path) -> None:
        self.env = {**os.environ, "EVD_HOME": str(home), "DO_NOT_TRACK": "1"}
        self.env.pop("EVD_FAKE_GPUS", None)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "evd", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def run(self, *args: str) -> str:
        done = self.cli("run", "-q", *args)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return done.stdout.strip()


def wait_until(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def check_discovery(evd: Daemon) -> str:
    query = "index,uuid,name,memory.total"
    smi = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    theirs = [[part.strip() for part in line.split(",")] for line in smi.strip().splitlines()]
    ours = evd.json("gpus")["gpus"]
    assert len(ours) == len(theirs), f"evd sees {len(ours)} GPUs, nvidia-smi {len(theirs)}"
    for gpu, (index, uuid, name, total) in zip(ours, theirs, strict=True):
        assert (str(gpu["index"]), gpu["uuid"], gpu["name"]) == (index, uuid, name), (gpu, uuid)
        whole = (gpu["memory_total"] + gpu.get("memory_reserved", 0)) // MIB
        assert abs(whole - int(total)) <= 1, f"GPU{index}: {whole} MiB vs nvidia-smi's {total}"
    reserved = ours[0].get("memory_reserved", 0) // MIB
    return f"{len(ours)} GPU(s) match nvidia-smi (the driver keeps {reserved} MiB of GPU0)"


def check_confinement(evd: Daemon) -> str:
    run_id = evd.run("--gpus", "1", "--", sys.executable, "-c", CUDA)
    evd.cli("wait", run_id, timeout=300)
    seen = json.loads(evd.cli("logs", run_id).stdout.strip().splitlines()[-1])
    given = evd.json("show", run_id)["gpus"]
    uuid = next(g["uuid"] for g in evd.json("gpus")["gpus"] if g["index"] == given[0])
    assert seen["count"] == 1, f"the job's CUDA saw {seen['count']} devices"
    assert seen["uuids"] == [uuid], f"the job saw {seen['uuids']}, evd gave it {uuid}"
    return f"a --gpus 1 job's CUDA sees only GPU{given[0]}"


def check_sharing(evd: Daemon) -> str:
    total = evd.json("gpus")["gpus"][0]["memory_total"]
    claim = f"{int(total * 0.45) // MIB}MiB"
    hold = [sys.executable, "-c", "import time; time.sleep(600)"]
    ids = [evd.run("--gpus", "0.5", "--gpu-memory", claim, "--", *hold) for _ in range(3)]
    try:
        assert wait_until(
            lambda: [evd.json("show", i)["state"] for i in ids[:2]] == ["running"] * 2
        )
        third = evd.json("show", ids[2])
        shares = {tuple(evd.json("show", i)["gpus"]) for i in ids[:2]}
        if len(evd.json("gpus")["gpus"]) == 1:
            assert third["state"] == "queued", third
            return f"two halves share GPU{shares}; the third waits: {third['reason']}"
        return f"two halves run on {sorted(shares)}"
    finally:
        evd.cli("cancel", *ids)


def check_attribution(evd: Daemon) -> str:
    run_id = evd.run("--gpus", "1", "--", sys.executable, "-c", CUDA, "8")
    try:
        ok = wait_until(
            lambda: bool((evd.json("show", run_id).get("metrics") or {}).get("gpu_memory"))
        )
        assert ok, "NVML never showed the job's GPU memory as the run's"
        peaks = evd.json("show", run_id)["metrics"]["gpu_memory"]
        return f"the job's context is the run's: {peaks}"
    finally:
        evd.cli("wait", run_id, timeout=60)


def check_memory_limit(evd: Daemon) -> str:
    mechanism = evd.json("gpus")["memory_limits"]["mechanism"]
    grow = "x = bytearray(600 * 2**20); import time; time.sleep(30)"
    run_id = evd.run("--memory", "200MiB", "--", sys.executable, "-c", grow)
    code = evd.cli("wait", run_id, timeout=120).returncode
    assert code == 137, f"a job over its --memory ended with {code}"
    return f"{mechanism}: a job over --memory 200MiB was stopped (137)"


CHECKS = [
    ("NVML discovery", check_discovery),
    ("confinement", check_confinement),
    ("fractional sharing", check_sharing),
    ("process attribution", check_attribution),
    ("memory limit", check_memory_limit),
]


def main() -> int:
    missing = gpu_missing()
    if missing is not None:
        print(f"gpu-check: skipped: {missing}")
        return SKIPPED
    failed = 0
    with tempfile.TemporaryDirectory(prefix="evd-gpu-check-") as tmp:
        evd = Daemon(Path(tmp) / "home")
        up = evd.cli("up", "--sample-interval", "0.5")
        if up.returncode != 0:
            print(f"gpu-check: evd did not start: {up.stderr.strip()}")
            return 1
        try:
            for name, check in CHECKS:
                try:
                    outcome, said = "ok", check(evd)
                except Exception as error:
                    failed += 1
                    outcome, said = "FAIL", str(error)
                print(f"{name:<22}{outcome:<6}{said}", flush=True)
            print(f"{'Daft GPU UDF':<22}{'skip':<6}needs the package registry to build its env")
        finally:
            evd.cli("down")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
