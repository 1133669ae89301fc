"""The key of a run's result in the result cache: everything that can change what it returns.

Flyte keys a cached task on its inputs, its interface and a version (by default
a hash of the function's body), but not on its image, so a changed dependency
can hand back a stale result. evd's key covers, for a prepared submission:

* the code snapshot: every file under the staged code folder (the job file and
  what it ``include`` s), by path and by content;
* what will run: the command's words with the staging folder (a fresh name per
  submit) written as ``{code}``, the working directory, the kind of job; the
  arguments minus those the declaration says to ignore;
* the environment: its content hash (Python, requirements, package index), so
  a changed pin is a miss; the variables the job declares (never the
  submitter's whole shell, whose ``OLDPWD`` and ``SHLVL`` change all the time);
* the volumes it reads, with their versions; the user's ``version``.

Secret values never enter it: not the shell's, not the store's.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evd.daemon.submit.prepared import CODE_DIR, Prepared

KEY_VERSION = 1  # bump when what the key covers changes: old entries become misses
CODE = "{code}"


@dataclass(frozen=True)
class CachePolicy:
    """How a job is cached: its version (salt) and the arguments that do not change its result."""

    version: str = ""
    ignore: tuple[str, ...] = ()  # option names, ``verbose`` for ``--verbose``


def without_ignored(words: list[str], ignore: Iterable[str]) -> list[str]:
    """``words`` without the options named in ``ignore``, and their values.

    ``--name=value`` goes alone; ``--name value`` takes the next word with it,
    unless that word is itself an option.
    """
    names = {name.lstrip("-") for name in ignore}  # `dry_run` also names `--dry-run`
    flags = {f"--{n}" for name in names for n in (name.replace("_", "-"), name.replace("-", "_"))}
    kept: list[str] = []
    skip_value = False
    for word in words:
        if skip_value:
            skip_value = False
            if not word.startswith("-"):
                continue
        if word.split("=", 1)[0] in flags:
            skip_value = "=" not in word
            continue
        kept.append(word)
    return kept


def code_digest(code: Path) -> str:
    """A digest of every file under ``code`` by relative path and content (links by target)."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(code):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name)
            relative = path.relative_to(code).as_posix().encode()
            digest.update(len(relative).to_bytes(4, "big") + relative)
            if path.is_symlink():
                content = b"link:" + os.readlink(path).encode()
            else:
                content = path.read_bytes()
            digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def _identity(prepared: Prepared, command: list[str]) -> dict[str, Any]:
    """What a prepared job is, but for its words: its code, entry, environment and inputs."""
    staged = str(prepared.staging / CODE_DIR) if prepared.staging is not None else None

    def placeless(word: str) -> str:
        return word.replace(staged, CODE) if staged else word

    spec = prepared.spec or {}
    settings = spec.get("settings", {})
    return {
        "v": KEY_VERSION,
        "kind": prepared.kind,
        "function": spec.get("function"),
        "command": [placeless(word) for word in command],
        "cwd": placeless(prepared.cwd),
        "code": code_digest(prepared.staging / CODE_DIR) if prepared.staging is not None else None,
        "env": prepared.env_spec.content_hash if prepared.env_spec else None,
        "environ": settings.get("environ", {}),
        "volumes": sorted(
            (volume.get("name"), volume.get("path"), volume.get("version"))
            for volume in spec.get("volumes", [])
        ),
    }


def _digest(identity: dict[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(prepared: Prepared, policy: CachePolicy) -> str:
    """The hex key of ``prepared``'s result under ``policy``."""
    return cache_keys(prepared, policy, [prepared.command])[0]


def cache_keys(prepared: Prepared, policy: CachePolicy, commands: list[list[str]]) -> list[str]:
    """The keys of ``prepared`` run as each of ``commands`` (a fan-out's items): code read once."""
    identity = _identity(prepared, [])
    staged = str(prepared.staging / CODE_DIR) if prepared.staging is not None else None
    keys = []
    for command in commands:
        words = without_ignored(command, policy.ignore)
        placeless = [word.replace(staged, CODE) if staged else word for word in words]
        keys.append(_digest({**identity, "command": placeless, "version": policy.version}))
    return keys


def worker_key(prepared: Prepared) -> str:
    """The hex key of the warm workers that may serve ``prepared``: its job, not its words.

    Runs with one key load the same code in the same environment with the same
    resources, so one loaded process can serve them all.
    """
    command = prepared.command
    head = command[: command.index("--")] if "--" in command else command
    identity = {**_identity(prepared, head), "resources": prepared.request.to_dict()}
    return _digest({"worker": identity})
