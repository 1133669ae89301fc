"""A run's inputs and outputs as submitted: paths resolved, volumes found, credentials named.

Declarations say *what* (``evd.sdk.dataspec``); this says *where*, at submit:
a local input's path is made absolute (from the job's working directory) and
must exist, with its version recorded as a volume's is; a volume input becomes
its folder; an S3 input or output names the secrets that hold its credentials.
The inputs themselves are staged later, before the run starts
(``evd.daemon.data.inputs``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from evd.daemon.submit import volumes
from evd.environments.settings import JobSettings
from evd.sdk.checks import DeclarationError
from evd.sdk.dataspec import input_env_var
from evd.store import Store

DEFAULT_CREDENTIALS = "AWS"  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
CREDENTIAL_NAMES = ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN")


async def plan_inputs(settings: JobSettings, cwd: str, store: Store) -> list[dict[str, Any]]:
    """The declared inputs, each with ``target`` and ``env_var``; local ones found and versioned."""
    planned = []
    for declared in settings.inputs:
        item = {**declared, "target": declared.get("target", declared["name"])}
        item["env_var"] = input_env_var(declared["name"])
        if "path" in declared:
            path = Path(os.path.normpath(Path(cwd) / Path(declared["path"]).expanduser()))
            if not path.exists():
                raise DeclarationError(f"input {declared['name']}: {path} does not exist")
            item["path"] = str(path)
            item["version"] = await asyncio.to_thread(volumes.version_of, path)
        elif "volume" in declared:
            [volume] = volumes.resolve((declared["volume"],), store)
            item["path"] = volume["path"]
            item["version"] = await asyncio.to_thread(volumes.version_of, Path(volume["path"]))
        planned.append(item)
    return planned


def credential_secrets(settings: JobSettings) -> tuple[list[str], list[str]]:
    """Secrets S3 inputs and outputs read: (the names, those declared explicitly).

    The explicit ones (``credentials = "MYS3"``) must exist; without a declaration
    evd looks for ``AWS_*`` and goes unsigned (a public bucket) when it finds none.
    """
    names: list[str] = []
    required: list[str] = []
    for item in (*settings.inputs, *settings.outputs):
        uses_s3 = "s3" in item or any(t.startswith("s3://") for t in item.get("to", []))
        if not uses_s3:
            continue
        prefix = item.get("credentials", DEFAULT_CREDENTIALS)
        for name in CREDENTIAL_NAMES:
            full = f"{prefix}_{name}"
            if full not in names:
                names.append(full)
            if "credentials" in item and name != "SESSION_TOKEN" and full not in required:
                required.append(full)
    return names, required
