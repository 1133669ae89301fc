"""The environment variables a job starts with.

The submitter's environment (or the daemon's), then the job's venv (``PATH``,
``VIRTUAL_ENV``), the declared ``environ``, volumes, secrets, and evd's own
``EVD_*`` variables, in that order; then defaults for what none of those set
(``DAFT_RUNNER=native``, ``DO_NOT_TRACK=1``; see ``job_defaults``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evd.daemon.data.inputs import INPUTS_DIR, input_path
from evd.daemon.submit import secrets
from evd.paths import StateDir
from evd.resources.pool import Allocation
from evd.resources.request import MILLI
from evd.runner.folders import OUTPUT_DIR
from evd.runner.ports import MASTER_ADDR
from evd.store import RunRecord

# Variables that describe one run: a job submitted from inside another run
# (``job.map``, ``evd run`` in a job) must not inherit its parent's.
RUN_VARIABLES = (
    "EVD_RUN_ID", "EVD_RUN_DIR", "EVD_OUTPUT_DIR", "EVD_CPUS", "EVD_CLUSTER",
    "EVD_RAY_RUNTIME_ENV", "EVD_UDF_WORKER", "EVD_GROUP", "EVD_GROUP_INDEX", "EVD_INPUTS_DIR",
    "EVD_PREEMPTED",
)  # fmt: skip


# Libraries that size their thread pools from these follow the run's CPUs.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "RAYON_NUM_THREADS",
)


def cluster_variables(spec: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    """What a job run on a Ray cluster is told: the address and the runtime env to ship.

    The runtime env carries the declared variables and requirements; evd's hook
    in the job (``evd.sdk.daft_hooks``) passes it to ``ray.init``, swapping the
    requirements for the job's own interpreter when the cluster is this machine.
    """
    settings = spec.get("settings", {})
    shipped = {k: env[k] for k in ("DO_NOT_TRACK",) if k in env}  # evd's defaults there too
    runtime_env = {
        "env_vars": {**shipped, **settings.get("environ", {})},
        "pip": list(settings.get("dependencies", [])),
    }
    return {"EVD_CLUSTER": spec["cluster"], "EVD_RAY_RUNTIME_ENV": json.dumps(runtime_env)}


def data_variables(spec: dict[str, Any], run_dir: Path) -> dict[str, str]:
    """Where the job finds its volumes (``EVD_VOLUME_*``) and staged inputs (``EVD_INPUT_*``)."""
    found = {volume["env_var"]: volume["path"] for volume in spec.get("volumes", [])}
    if spec.get("inputs"):
        found["EVD_INPUTS_DIR"] = str(run_dir / INPUTS_DIR)
        for item in spec["inputs"]:
            found[item["env_var"]] = str(input_path(run_dir, item))
    return found


def job_defaults(jobs: dict[str, Any]) -> dict[str, str]:
    """Variables every job gets unless it sets them, from the config's ``[jobs]`` table.

    Daft runs on its native runner on one machine; telemetry is off (``import
    daft`` phones home otherwise) unless ``telemetry = true``.
    """
    defaults = {"DAFT_RUNNER": "native"}
    if not jobs.get("telemetry", False):
        defaults["DO_NOT_TRACK"] = "1"
    return defaults


def job_environment(
    record: RunRecord,
    state: StateDir,
    venv: Path | None,
    allocation: Allocation | None,
    master_port: int | None = None,
    *,
    defaults: dict[str, str] | None = None,
    cuda_ids: Mapping[int, str] | None = None,
) -> dict[str, str]:
    """The variables for ``record``'s job; ``DeclarationError`` if a secret is gone.

    The devices in ``CUDA_VISIBLE_DEVICES`` are the run's own and cannot be
    overridden by the job's declarations; thread counts can, and so can the
    ``MASTER_ADDR``/``MASTER_PORT`` a multi-GPU job gets for its own rendezvous.
    """
    env = dict(record.env) if record.env is not None else dict(os.environ)
    for name in RUN_VARIABLES:
        env.pop(name, None)
    spec = record.spec or {}
    run_dir = state.run_dir(record.id)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
        env.pop("PYTHONHOME", None)
    if spec.get("kind") == "script":
        # The script runs from its snapshot; its own folder still serves its imports.
        origin = str(Path(spec["source"]).parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [origin, env.get("PYTHONPATH")]))
    if allocation is not None:
        threads = str(max(1, -(-allocation.millicpus // MILLI)))  # whole CPUs, rounded up
        env.update(dict.fromkeys(THREAD_VARIABLES, threads))
        env["EVD_CPUS"] = f"{allocation.cpus:g}"  # Daft's native runner sizes its pool from it
    if master_port is not None:
        # Over the submitter's shell (two DDP jobs must not share 29500), under the declarations.
        env["MASTER_ADDR"] = MASTER_ADDR
        env["MASTER_PORT"] = str(master_port)
    env.update(spec.get("settings", {}).get("environ", {}))
    if allocation is not None:
        # NVML's numbering is PCI bus order; CUDA's default ("fastest first") may differ.
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        # By UUID where CUDA's numbering is not NVML's (``Inventory.uuids_for_jobs``).
        names = cuda_ids or {}
        env["CUDA_VISIBLE_DEVICES"] = ",".join(names.get(i, str(i)) for i in allocation.gpus)
    env.update(data_variables(spec, run_dir))
    names = spec.get("secrets", [])
    if names:
        env.update(secrets.load_for_run(names, run_dir, state.root / secrets.SECRETS_FILE))
    hidden = spec.get("hidden_variables", [])
    if hidden:  # the shell's secret-looking variables, as the submitter had them
        kept = secrets.run_values(run_dir)
        env.update({name: kept[name] for name in hidden if name in kept})
    outputs = run_dir / OUTPUT_DIR
    outputs.mkdir(exist_ok=True)
    env["EVD_RUN_ID"] = str(record.id)
    env["EVD_HOME"] = str(state.root)
    env["EVD_RUN_DIR"] = str(run_dir)
    env["EVD_OUTPUT_DIR"] = str(outputs)
    if (record.retry or {}).get("preempted_by") is not None:  # its checkpoint is worth reading
        env["EVD_PREEMPTED"] = "1"
    if record.group_id is not None:  # a fan-out's item (as Slurm's SLURM_ARRAY_TASK_ID)
        env["EVD_GROUP"] = str(record.group_id)
        env["EVD_GROUP_INDEX"] = str(record.group_index)
    for name, value in (job_defaults({}) if defaults is None else defaults).items():
        env.setdefault(name, value)
    if spec.get("cluster"):
        env.update(cluster_variables(spec, env))
    return env
