"""How memory limits are enforced on this machine, chosen once when the daemon starts.

A run's ``memory`` request is also its limit (as with Slurm's ``--mem``):

* ``systemd-scope``: a job with a limit starts inside ``systemd-run --user
  --scope -p MemoryMax=...``, a cgroup v2 limit the kernel enforces.
  (``--scope`` runs the command in the same process, so the shim keeps its
  pid.) The sampler watches too. Used only where it holds, which the start-up
  probe proves: evd runs under the user's systemd manager (``user@UID.service``:
  ``evd service``) or the user lingers, so logging out does not stop every
  job's scope; and inside a probe scope ``memory.max`` reads back the value
  set (cgroup v1 or hybrid machines, or a manager without the memory
  controller delegated, accept ``MemoryMax`` and ignore it).
* ``sampler``: otherwise, evd samples the resident memory of each job's whole
  process tree every ``--sample-interval`` seconds and stops a job (SIGKILL,
  as the kernel would) once it is over. A spike shorter than the interval can
  pass unseen.

What the scope does that a plain spawn does not, handled here:

* systemd-run expands ``$NAME``, ``${NAME}`` and ``$$`` in the command it
  runs (by default from systemd 256, on request in 254-255): evd passes
  ``--expand-environment=no`` where the version knows it, so a job's words
  reach it byte for byte (and the shim its own script).
* From systemd 253 a scope follows ``OOMPolicy=stop``: after the kernel kills
  one process for memory, systemd stops the rest. evd sets ``continue``: the
  job decides, and the shim records the kernel's kill count from the scope's
  ``memory.events``, so the run reads "exceeded its memory limit".
* systemd-run talks to the user manager through ``XDG_RUNTIME_DIR`` (and the
  session bus address), which a job submitted from cron, ``sudo -u`` or a
  stale terminal may lack: the wrapper gets the daemon's.

Never ``RLIMIT_AS``: it limits address space, not memory, and Daft (like
many multi-threaded runtimes) crashes under it. ``EVD_MEMORY_LIMITS=sampler``
turns the systemd path off; ``EVD_MEMORY_LIMITS=scope`` uses it without the
user-manager check (a daemon started some other way that outlives logins).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

EXPAND_OPTION_SINCE = 254  # --expand-environment (expansion is on by default from 256)
SCOPE_OOM_POLICY_SINCE = 253  # OOMPolicy= on scope units
SESSION_VARIABLES = ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
_PROBE_LIMIT = 1 << 30
# Inside the probe scope: the memory.max of its own cgroup ($1 is the cgroup v2 root).
_READ_LIMIT = 'IFS=: read -r a b c </proc/self/cgroup && cat "$1$c/memory.max"'


@dataclass(frozen=True)
class MemoryEnforcement:
    """The mechanism in force, in words for ``evd gpus``, and how it wraps a job."""

    mechanism: str  # systemd-scope | sampler
    description: str
    systemd_run: str | None = None
    systemd_version: int = 0
    cgroup_root: str | None = None  # where cgroup v2 is mounted (the shim reads memory.events)
    session: dict[str, str] = field(default_factory=dict)  # the daemon's XDG_RUNTIME_DIR...

    def wrap(self, argv: list[str], limit: int) -> list[str]:
        """``argv`` started under a memory limit of ``limit`` bytes (unchanged for the sampler)."""
        if self.systemd_run is None or limit <= 0:
            return argv
        options = [self.systemd_run, "--user", "--scope", "--quiet", "--collect"]
        if self.systemd_version >= EXPAND_OPTION_SINCE:
            options.append("--expand-environment=no")
        options += ["-p", f"MemoryMax={limit}", "-p", "MemorySwapMax=0"]
        if self.systemd_version >= SCOPE_OOM_POLICY_SINCE:
            options += ["-p", "OOMPolicy=continue"]
        return [*options, "--", *argv]

    def scoped(self, limit: int) -> bool:
        """Whether a job with ``limit`` runs in a scope (``wrap`` changes its argv)."""
        return self.systemd_run is not None and limit > 0


def sampler(interval: float, why: str) -> MemoryEnforcement:
    """The sampler, with why nothing stronger is in use."""
    return MemoryEnforcement(
        "sampler",
        f"evd samples each job's process tree every {interval:g} s and stops it once its"
        f" resident memory is over its limit ({why})",
    )


def systemd_version(systemd_run: str) -> int:
    """``systemd-run --version``'s number (``systemd 255 (255.4-1)`` is 255; 0 if unknown)."""
    try:
        out = subprocess.run(
            [systemd_run, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    words = out.split()
    return int(words[1]) if len(words) > 1 and words[0] == "systemd" and words[1].isdigit() else 0


def cgroup2_root(environ: Mapping[str, str]) -> str | None:
    """Where the cgroup v2 hierarchy is mounted (``EVD_CGROUP_ROOT`` overrides, for tests)."""
    if environ.get("EVD_CGROUP_ROOT"):
        return environ["EVD_CGROUP_ROOT"].rstrip("/")
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        return None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return fields[1].rstrip("/")
    return None


def outlives_logout(
    environ: Mapping[str, str],
    own_cgroup: str | None = None,
    linger_dir: Path = Path("/var/lib/systemd/linger"),
) -> str | None:
    """Why scopes would not outlive the user's last login (``None``: they would).

    ``own_cgroup`` is the daemon's ``/proc/self/cgroup`` (read when not given).
    """
    if environ.get("EVD_MEMORY_LIMITS") == "scope":
        return None
    uid = os.getuid()
    if own_cgroup is None:
        try:
            own_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            own_cgroup = ""
    if f"/user@{uid}.service/" in own_cgroup:
        return None  # started by the user manager (`evd service`): it lives as long as evd
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    if (linger_dir / name).exists():
        return None
    return (
        "evd does not run under your systemd user manager and you do not linger, so logging"
        " out would stop every job's scope: `loginctl enable-linger` or `evd service` enables it"
    )


def detect(environ: Mapping[str, str], interval: float) -> MemoryEnforcement:
    """The strongest mechanism this user can use, proven by a short probe."""
    if environ.get("EVD_MEMORY_LIMITS") == "sampler":
        return sampler(interval, "EVD_MEMORY_LIMITS=sampler")
    systemd_run = shutil.which("systemd-run", path=environ.get("PATH"))
    if systemd_run is None:
        return sampler(interval, "no systemd-run here")
    why_not = outlives_logout(environ)
    if why_not is not None:
        return sampler(interval, why_not)
    session = {name: environ[name] for name in SESSION_VARIABLES if environ.get(name)}
    scope = MemoryEnforcement(
        "systemd-scope",
        "each job with a memory limit runs in a systemd user scope with MemoryMax"
        f" (cgroup v2; the kernel enforces it); evd also samples every {interval:g} s",
        systemd_run,
        systemd_version(systemd_run),
        cgroup2_root(environ),
        session,
    )
    if scope.cgroup_root is None:
        return sampler(interval, "no cgroup v2 hierarchy is mounted")
    return _proven(scope, environ, interval)


def _proven(
    scope: MemoryEnforcement, environ: Mapping[str, str], interval: float
) -> MemoryEnforcement:
    """``scope`` if a probe scope's ``memory.max`` reads back the limit set, else the sampler."""
    assert scope.cgroup_root is not None
    argv = scope.wrap(["/bin/sh", "-c", _READ_LIMIT, "evd-probe", scope.cgroup_root], _PROBE_LIMIT)
    try:
        probe = subprocess.run(
            argv, capture_output=True, text=True, timeout=5, check=False,
            env={**environ, **scope.session},
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return sampler(interval, "systemd-run did not answer")
    if probe.returncode != 0 and "memory.max" not in probe.stderr:
        return sampler(interval, "no systemd user manager to create a cgroup v2 scope")
    if probe.stdout.strip() != str(_PROBE_LIMIT):
        return sampler(
            interval,
            "a systemd scope's MemoryMax does not hold here (cgroup v1 or hybrid, or no memory"
            " controller delegated to the user manager)",
        )
    return scope
