"""The environment variables a job starts with.

The submitter's environment (or the daemon's), then the job's venv (``PATH``,
``VIRTUAL_ENV``), the declared ``environ``, volumes, secrets, and evd's own
``EVD_*`` variables, in that order.
"""

from __future__ import annotations

import os
from pathlib import Path

from evd.daemon import secrets
from evd.paths import StateDir
from evd.store import RunRecord

OUTPUT_DIR = "outputs"


def job_environment(record: RunRecord, state: StateDir, venv: Path | None) -> dict[str, str]:
    """The variables for ``record``'s job; ``DeclarationError`` if a secret is gone."""
    env = dict(record.env) if record.env is not None else dict(os.environ)
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
    env.update(spec.get("settings", {}).get("environ", {}))
    for volume in spec.get("volumes", []):
        env[volume["env_var"]] = volume["path"]
    names = spec.get("secrets", [])
    if names:
        env.update(secrets.load_for_run(names, run_dir, state.root / secrets.SECRETS_FILE))
    outputs = run_dir / OUTPUT_DIR
    outputs.mkdir(exist_ok=True)
    env["EVD_RUN_ID"] = str(record.id)
    env["EVD_HOME"] = str(state.root)
    env["EVD_RUN_DIR"] = str(run_dir)
    env["EVD_OUTPUT_DIR"] = str(outputs)
    env.setdefault("DO_NOT_TRACK", "1")  # Daft and friends phone home otherwise
    return env
