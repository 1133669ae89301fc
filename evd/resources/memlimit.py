"""How memory limits are enforced on this machine, chosen once when the daemon starts.

A run's ``memory`` request is also its limit (as with Slurm's ``--mem``):

* ``systemd-scope``: where a systemd user manager answers, a job with a limit
  starts inside ``systemd-run --user --scope -p MemoryMax=...``: a cgroup v2
  limit the kernel enforces. (``--scope`` runs the command in the same
  process, so the shim keeps its pid.) The sampler watches too, so the run's
  reason names the limit.
* ``sampler``: otherwise, evd samples the resident memory of each job's whole
  process tree every ``--sample-interval`` seconds and stops a job (SIGKILL,
  as the kernel would) once it is over. A spike shorter than the interval can
  pass unseen.

Never ``RLIMIT_AS``: it limits address space, not memory, and Daft (like
many multi-threaded runtimes) crashes under it. ``EVD_MEMORY_LIMITS=sampler``
turns the systemd path off.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryEnforcement:
    """The mechanism in force, in words for ``evd gpus``, and how it wraps a job."""

    mechanism: str  # systemd-scope | sampler
    description: str
    systemd_run: str | None = None

    def wrap(self, argv: list[str], limit: int) -> list[str]:
        """``argv`` started under a memory limit of ``limit`` bytes (unchanged for the sampler)."""
        if self.systemd_run is None or limit <= 0:
            return argv
        return [
            self.systemd_run, "--user", "--scope", "--quiet", "--collect",
            "-p", f"MemoryMax={limit}", "-p", "MemorySwapMax=0", "--", *argv,
        ]  # fmt: skip


def sampler(interval: float, why: str) -> MemoryEnforcement:
    """The sampler, with why nothing stronger is in use."""
    return MemoryEnforcement(
        "sampler",
        f"evd samples each job's process tree every {interval:g} s and stops it once its"
        f" resident memory is over its limit ({why})",
    )


def detect(environ: Mapping[str, str], interval: float) -> MemoryEnforcement:
    """The strongest mechanism this user can use (a short probe of ``systemd-run``)."""
    if environ.get("EVD_MEMORY_LIMITS") == "sampler":
        return sampler(interval, "EVD_MEMORY_LIMITS=sampler")
    systemd_run = shutil.which("systemd-run")
    if systemd_run is None:
        return sampler(interval, "no systemd-run here")
    try:
        probe = subprocess.run(
            [systemd_run, "--user", "--scope", "--quiet", "--collect",
             "-p", "MemoryMax=1G", "--", "true"],
            capture_output=True,
            timeout=5,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return sampler(interval, "systemd-run did not answer")
    if probe.returncode != 0:
        return sampler(interval, "no systemd user manager to create a cgroup v2 scope")
    return MemoryEnforcement(
        "systemd-scope",
        "each job with a memory limit runs in a systemd user scope with MemoryMax"
        f" (cgroup v2; the kernel enforces it); evd also samples every {interval:g} s",
        systemd_run,
    )
