"""``EnvSpec``: what makes a virtualenv, and the content hash that names it.

The hash covers the interpreter (real path and version), the normalized
requirements and the index settings. Environment variables, secrets and files
are not part of it: they do not change what is installed, so jobs that differ
only in those share one venv.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from evd.environments.indexes import IndexSettings
from evd.environments.pythons import Interpreter
from evd.sdk.checks import DeclarationError

HASH_CHARS = 16
SPEC_VERSION = 1  # bump when the way venvs are built changes, so old ones are not reused


def normalize(requirements: list[str] | tuple[str, ...]) -> list[str]:
    """Requirements in one canonical spelling, sorted, without duplicates."""
    found = set()
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise DeclarationError(f"bad requirement {text!r}: {error}") from None
        requirement.name = canonicalize_name(requirement.name)
        found.add(str(requirement))
    return sorted(found)


@dataclass(frozen=True)
class EnvSpec:
    """An interpreter, requirements and index settings: everything a venv is built from."""

    interpreter: Interpreter
    requirements: tuple[str, ...]
    index: IndexSettings

    @property
    def content_hash(self) -> str:
        """The venv's name under ``EVD_HOME/envs/``."""
        identity = {
            "v": SPEC_VERSION,
            "python": [self.interpreter.path, self.interpreter.version_text],
            "requirements": list(self.requirements),
            "index": self.index.identity(),
        }
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]

    def describe(self) -> dict[str, Any]:
        """For the env's record and ``evd envs ls``."""
        return {
            "hash": self.content_hash,
            "python": self.interpreter.version_text,
            "python_path": self.interpreter.path,
            "requirements": list(self.requirements),
        }


def make_spec(
    interpreter: Interpreter, requirements: list[str] | tuple[str, ...], index: IndexSettings
) -> EnvSpec:
    """An ``EnvSpec`` with the requirements normalized."""
    return EnvSpec(interpreter, tuple(normalize(requirements)), index)
