"""``Env`` and ``Resources``: what a job needs, declared as data.

Standard library only: job environments import this module.

An ``Env`` is the Python version, the packages, environment variables, secrets
(by name), included files and volumes of a job, plus default compute settings.
It is plain data: evd reads it without running the job, hashes the part that
makes a virtualenv (Python + packages + index settings) and builds that venv
once. Example::

    from evd import Env, Job

    env = Env("3.11").pip_install(["daft==0.7.26"])
    env.environ["DAFT_PROGRESS_BAR"] = "0"
    gpu_env = env.clone_with(gpus=1, memory="16GiB")

Which setting may be given where (a ``Job``'s value overrides its ``Env``'s, a
command-line flag overrides both):

=================  ===  ===  ====================  =====================
setting            Env  Job  PEP 723 [tool.evd]     ``evd run`` flag
=================  ===  ===  ====================  =====================
python, packages   yes  no   requires-python, deps  ``--env``
environ, secrets   yes  no   environ, secrets       (the shell's env)
include, volumes   yes  no   include, volumes       no
cpus, memory,      yes  yes  resources / top level  ``--cpus`` ...
gpus, gpu_memory
retries, timeout,  yes  yes  yes                    ``--retries`` ...
priority
restart            no   yes  yes                    ``--restart``
description        yes  yes  yes                    no
=================  ===  ===  ====================  =====================
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evd.sdk.checks import (
    DeclarationError,
    check_count,
    check_duration,
    check_env_var,
    check_int,
    check_name,
    check_paths,
    check_python,
    check_requirements,
    check_size,
    check_text,
    check_volume,
    volume_env_var,
)


@dataclass(frozen=True)
class Resources:
    """Compute a job asks for: CPUs (may be fractional), memory, GPUs, GPU memory.

    Sizes take bytes or strings (``"16GiB"``). ``gpus`` below 1 share a device,
    packed by ``gpu_memory``. Defaults: 1 CPU, no memory reserved, no GPU.
    """

    cpus: float | None = None
    memory: int | str | None = None
    gpus: float | None = None
    gpu_memory: int | str | None = None

    def __post_init__(self) -> None:
        check_count(self.cpus, "cpus", fractional=True)
        if self.cpus == 0:
            raise DeclarationError("cpus must be above 0 (a fraction such as 0.25 is fine)")
        check_count(self.gpus, "gpus", fractional=True)
        check_size(self.memory, "memory")
        check_size(self.gpu_memory, "gpu_memory")

    def to_dict(self) -> dict[str, Any]:
        """The settings given, sizes in bytes."""
        values = {
            "cpus": check_count(self.cpus, "cpus", fractional=True),
            "memory": check_size(self.memory, "memory"),
            "gpus": check_count(self.gpus, "gpus", fractional=True),
            "gpu_memory": check_size(self.gpu_memory, "gpu_memory"),
        }
        return {key: value for key, value in values.items() if value is not None}


class Environ(dict[str, str]):
    """``env.environ``: a dict that refuses names and values a process cannot take."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        super().__init__()
        for key, value in (values or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(*check_env_var(key, value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set several variables, each checked."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: str = "") -> str:
        """Set ``key`` if missing (checked) and return its value."""
        if key not in self:
            self[key] = default
        return self[key]


class Volume:
    """A named data volume a job uses; its path inside the job is ``volume.path``."""

    def __init__(self, name: str) -> None:
        self.name = check_volume(name)

    @property
    def env_var(self) -> str:
        """The variable evd sets to the volume's path: ``EVD_VOLUME_<NAME>``."""
        return volume_env_var(self.name)

    @property
    def path(self) -> Path:
        """The volume's folder (or file), as evd mounted it for this run."""
        value = os.environ.get(self.env_var)
        if value is None:
            raise RuntimeError(
                f"volume {self.name!r} is not available here: {self.env_var} is unset."
                " It is set in jobs that evd runs with this Env."
            )
        return Path(value)

    def __repr__(self) -> str:
        return f"Volume({self.name!r})"


_COMPUTE = ("cpus", "memory", "gpus", "gpu_memory")


class Env:
    """The environment of a job: Python, packages, variables, secrets, files, volumes.

    ``pip_install``, ``include``, ``secret`` and ``volume`` change the Env in
    place and (but for ``volume``) return it, so calls chain as in ev::

        env = Env("3.11").pip_install(["daft==0.7.26", "pyarrow"]).include(["config/"])

    ``python`` is a version (``"3.11"``), a range (``">=3.12,<3.13"``) or an
    interpreter's path; ``None`` means the Python evd itself runs on.
    """

    def __init__(
        self,
        python: str | None = None,
        *,
        name: str | None = None,
        dependencies: list[str] | tuple[str, ...] = (),
        environ: dict[str, str] | None = None,
        secrets: list[str] | tuple[str, ...] = (),
        include: list[str] | tuple[str, ...] = (),
        volumes: list[str] | tuple[str, ...] = (),
        resources: Resources | None = None,
        cpus: float | None = None,
        memory: int | str | None = None,
        gpus: float | None = None,
        gpu_memory: int | str | None = None,
        retries: int = 0,
        timeout: float | str | None = None,
        priority: int | None = None,
        description: str | None = None,
        cluster: str | None = None,
    ) -> None:
        self.python = check_python(python)
        self.name = None if name is None else check_name(name, "environment")
        self.packages: list[str] = check_requirements(list(dependencies))
        self.environ = Environ(environ)
        self.secrets: list[str] = []
        for secret in secrets:
            self.secret(secret)
        self.includes: list[str] = check_paths(list(include), "include")
        self.volumes: list[Volume] = [Volume(v) for v in volumes]
        self.resources = merge_resources(resources, cpus, memory, gpus, gpu_memory)
        self.retries = check_int(retries, "retries", minimum=0)
        self.timeout = check_duration(timeout, "timeout")
        self.priority = None if priority is None else check_int(priority, "priority")
        self.description = check_text(description, "description")
        # A Ray cluster to run on (``"ray://head:10001"`` or ``"head:6379"``); None: this machine.
        self.cluster = check_text(cluster, "cluster")

    def pip_install(self, packages: list[str] | str) -> Env:
        """Add requirements (``["daft==0.7.26", "pyarrow>=15"]``); returns this Env."""
        self.packages.extend(check_requirements(packages))
        return self

    def include(self, paths: list[str] | str) -> Env:
        """Ship these files or folders (relative to the job file) with the job."""
        self.includes.extend(check_paths(paths, "include"))
        return self

    def secret(self, name: str) -> Env:
        """Inject the secret ``name`` (from evd's secrets file or the submitting shell)."""
        key, _ = check_env_var(name, "")
        if key not in self.secrets:
            self.secrets.append(key)
        return self

    def volume(self, name: str) -> Volume:
        """Use the volume ``name`` (``evd volumes add NAME PATH``); returns it."""
        volume = Volume(name)
        if all(v.name != volume.name for v in self.volumes):
            self.volumes.append(volume)
        return volume

    def clone_with(self, **changes: Any) -> Env:
        """A copy of this Env with some settings replaced (the original is unchanged).

        Takes ``Env(...)``'s keyword arguments; compute settings (``cpus=``...)
        merge into the current resources rather than replacing them.
        """
        current = self.to_dict()  # its keys are Env's own arguments
        resources = current.pop("resources", {})
        if "resources" not in changes:
            current["resources"] = Resources(**resources)
        known = sorted({*inspect.signature(Env).parameters, *_COMPUTE})
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise DeclarationError(
                f"clone_with got an unknown setting {unknown[0]!r}; known: {', '.join(known)}"
            )
        return Env(**{**current, **changes})

    def to_dict(self) -> dict[str, Any]:
        """The declaration as evd reads it (the same keys as a ``[tool.evd]`` table)."""
        data: dict[str, Any] = {
            "python": self.python,
            "name": self.name,
            "dependencies": list(self.packages),
            "environ": dict(self.environ),
            "secrets": list(self.secrets),
            "include": list(self.includes),
            "volumes": [v.name for v in self.volumes],
            "resources": dict(self.resources),
            "retries": self.retries,
            "timeout": self.timeout,
            "priority": self.priority,
            "description": self.description,
            "cluster": self.cluster,
        }
        return {key: value for key, value in data.items() if value not in (None, [], {})}

    def __repr__(self) -> str:
        return f"Env(python={self.python!r}, packages={self.packages!r})"


def merge_resources(
    resources: Resources | None = None,
    cpus: float | None = None,
    memory: int | str | None = None,
    gpus: float | None = None,
    gpu_memory: int | str | None = None,
) -> dict[str, Any]:
    """``resources`` with the keyword settings on top, as a dict of what was given."""
    if resources is not None and not isinstance(resources, Resources):
        raise DeclarationError(
            f"resources must be evd.Resources(...), not {type(resources).__name__}"
        )
    merged = resources.to_dict() if resources else {}
    merged.update(Resources(cpus=cpus, memory=memory, gpus=gpus, gpu_memory=gpu_memory).to_dict())
    return merged
