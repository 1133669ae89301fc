"""``Prepared``: a submission made ready to store, before it has a run id."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evd.environments.spec import EnvSpec
from evd.models import FailedBy
from evd.policy import Policy
from evd.resources.request import Request

CODE_DIR = "code"  # the snapshot of the job's code, inside its run folder


@dataclass
class Prepared:
    """A submission made ready to store: what to run, where, and in which env."""

    name: str
    kind: str  # command | script | job | function
    command: list[str]
    cwd: str
    env: dict[str, str] | None
    timeout: float | None
    priority: int
    spec: dict[str, Any] = field(default_factory=dict)
    env_spec: EnvSpec | None = None
    staging: Path | None = None
    shell_secrets: dict[str, str] = field(default_factory=dict)
    request: Request = field(default_factory=Request)  # the compute it asks for
    policy: Policy = field(default_factory=Policy)  # retries, restart, after, queue timeout
    notes: list[str] = field(default_factory=list)  # for the run's log: what evd left out
    error: str | None = None  # the run is recorded as failed with this reason
    failed_by: FailedBy = FailedBy.USER

    def placed(self, run_dir: Path, command: list[str]) -> Prepared:
        """A copy running ``command`` with code paths in ``run_dir`` (known once it has an id)."""
        copy = dataclasses.replace(self, command=list(command), spec=dict(self.spec))
        if self.staging is None:
            return copy
        staged, final = str(self.staging / CODE_DIR), str(run_dir / CODE_DIR)
        copy.command = [arg.replace(staged, final, 1) for arg in command]
        copy.cwd = self.cwd.replace(staged, final, 1)
        if "file" in copy.spec:
            copy.spec["file"] = copy.spec["file"].replace(staged, final, 1)
        return copy


class CopyFailed(Exception):
    """Copying the job's code into its run folder failed (a full disk, a permission)."""


@contextlib.contextmanager
def copying() -> Iterator[None]:
    """Report an ``OSError`` of a copy as ``CopyFailed`` (a vanished source stays itself)."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as error:
        raise CopyFailed(str(error)) from error
