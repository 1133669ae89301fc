"""The environment of whoever set a trigger up, kept for the runs it starts.

A run submitted by hand gets the submitter's shell; so do the runs of a
schedule or a watched folder, from the shell that added it (cron's oldest
pitfall is a job that works by hand and fails from the clock for want of
``CUDA_HOME`` or a conda variable). Variables whose names look secret, and
the job's declared secrets, are kept as ``evd.daemon.submit.secrets`` keeps
a run's: out of the database, in a 0600 file of the trigger
(``EVD_HOME/triggers/KIND-ID.json``) removed with it. Views list names only.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from evd.daemon.submit.secrets import secret_looking

FOLDER = "triggers"


def split(
    env: Mapping[str, str], patterns: Sequence[str], secrets: Iterable[str] = ()
) -> tuple[dict[str, str], dict[str, str]]:
    """``env`` as (what may be stored, what must not: secret-looking or declared secrets)."""
    hidden_names = set(secret_looking(env, patterns)) | (set(secrets) & set(env))
    kept = {k: v for k, v in env.items() if k not in hidden_names}
    return kept, {k: env[k] for k in sorted(hidden_names)}


def _path(root: Path, kind: str, trigger_id: int) -> Path:
    return root / FOLDER / f"{kind}-{trigger_id}.json"


def save_hidden(root: Path, kind: str, trigger_id: int, values: Mapping[str, str]) -> None:
    """Keep a trigger's hidden values (mode 0600); nothing to keep writes nothing."""
    if not values:
        return
    path = _path(root, kind, trigger_id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(dict(values), handle)


def load_hidden(root: Path, kind: str, trigger_id: int) -> dict[str, str]:
    """A trigger's hidden values (``{}`` when it has none)."""
    with contextlib.suppress(OSError, ValueError):
        values = json.loads(_path(root, kind, trigger_id).read_text())
        if isinstance(values, dict):
            return {str(k): str(v) for k, v in values.items()}
    return {}


def forget_hidden(root: Path, kind: str, trigger_id: int) -> None:
    """Remove a trigger's hidden values (it was removed)."""
    _path(root, kind, trigger_id).unlink(missing_ok=True)
