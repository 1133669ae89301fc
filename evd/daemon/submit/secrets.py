"""Secrets: values jobs ask for by name, kept out of the database, events, logs and views.

A value comes from ``EVD_HOME/secrets.toml`` (``NAME = "value"``, mode 0600,
read when a run is submitted and again when it starts) or, failing that, from
the submitting shell's environment. A value taken from the shell is removed
from the run's stored environment and kept only in the run's own 0600
``secrets.json`` until the run ends.

Variables of the submitting shell that were not declared but whose names look
secret (``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``: ``SECRET_LOOKING``, or the
config's ``[jobs] secret_variables``) are kept the same way: the job gets
them, the database and the views only their names.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from evd.sdk.checks import DeclarationError

SECRETS_FILE = "secrets.toml"
RUN_SECRETS = "secrets.json"


def read_secrets_file(path: Path) -> dict[str, str]:
    """The secrets file's values (``{}`` without one); refuses a file others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DeclarationError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o});"
            f" evd will not use it until you run: chmod 600 {path}"
        )
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DeclarationError(f"cannot read the secrets file {path}: {error}") from None
    return {key: value for key, value in data.items() if isinstance(value, str)}


def gather(
    names: list[str] | tuple[str, ...], file: Path, submitter: Mapping[str, str] | None
) -> tuple[dict[str, str], list[str]]:
    """The values of ``names`` taken from the submitter's shell, and the names still missing.

    Names the secrets file holds are not returned: they are read again at start.
    """
    stored = read_secrets_file(file) if names else {}
    from_shell: dict[str, str] = {}
    missing = []
    for name in names:
        if name in stored:
            continue
        if submitter is not None and name in submitter:
            from_shell[name] = submitter[name]
        else:
            missing.append(name)
    return from_shell, missing


SECRET_LOOKING = ("*TOKEN*", "*SECRET*", "*PASSWORD*", "*_KEY", "*CREDENTIALS*")


def secret_looking(env: Mapping[str, str], patterns: Sequence[str]) -> list[str]:
    """The names in ``env`` that look like they hold a secret (glob ``patterns``, any case)."""
    return sorted(
        name
        for name in env
        if any(fnmatch.fnmatchcase(name.upper(), pattern.upper()) for pattern in patterns)
    )


def run_values(run_dir: Path) -> dict[str, str]:
    """The values kept with the run until it ends (``{}`` when there are none)."""
    with contextlib.suppress(OSError, ValueError):
        values = json.loads((run_dir / RUN_SECRETS).read_text())
        if isinstance(values, dict):
            return {str(k): str(v) for k, v in values.items()}
    return {}


def save_for_run(run_dir: Path, values: dict[str, str]) -> None:
    """Keep shell-given values with the run (0600), for its start."""
    if not values:
        return
    path = run_dir / RUN_SECRETS
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(values, handle)


def load_for_run(names: list[str], run_dir: Path, file: Path) -> dict[str, str]:
    """The values to inject at start; raises ``DeclarationError`` for one that is gone."""
    values = run_values(run_dir)
    values.update(read_secrets_file(file))
    missing = [name for name in names if name not in values]
    if missing:
        raise DeclarationError(
            f"secret(s) {', '.join(missing)} are no longer available:"
            f" add them to {file} (mode 0600)"
        )
    return {name: values[name] for name in names}


def available(names: list[str], run_dir: Path, file: Path) -> dict[str, str]:
    """Those of ``names`` the run kept or the secrets file holds (evd's own use: S3 access)."""
    if not names:
        return {}
    values = run_values(run_dir)
    values.update(read_secrets_file(file))
    return {name: values[name] for name in names if name in values}


def forget_for_run(run_dir: Path) -> None:
    """Remove the run's copy of shell-given secrets (the run has ended)."""
    (run_dir / RUN_SECRETS).unlink(missing_ok=True)
