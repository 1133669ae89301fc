"""``Job``: a named entry point with its environment, declared as in ev.

Standard library only: job environments import this module. Example::

    from evd import Env, Job

    env = Env("3.11").pip_install(["daft==0.7.26"])
    job = Job("count-words", env, cpus=2, timeout="30m")

    @job.main()
    def main(path: str = "data.txt") -> dict[str, int]:
        ...  # the returned JSON value is the run's result (`evd result ID`)

``evd run file.py a --k v`` calls ``main("a", k="v")``. A ``main`` that returns
an ``int`` sets the exit code; any other JSON value becomes the run's result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from evd.sdk.checks import (
    DeclarationError,
    check_duration,
    check_int,
    check_name,
    check_restart,
    check_text,
)
from evd.sdk.env import Env, Resources, merge_resources

F = TypeVar("F", bound=Callable[..., Any])

# Every Job made in this interpreter, in order: how evd finds a file's jobs.
DECLARED: list[Job] = []


class Job:
    """A job: a name, an ``Env``, and one ``main`` (set with ``@job.main()``).

    Compute and policy settings given here override the Env's (see ``Env``).
    """

    def __init__(
        self,
        name: str,
        env: Env | None = None,
        *,
        resources: Resources | None = None,
        cpus: float | None = None,
        memory: int | str | None = None,
        gpus: float | None = None,
        gpu_memory: int | str | None = None,
        retries: int | None = None,
        restart: str | None = None,
        timeout: float | str | None = None,
        priority: int | None = None,
        description: str | None = None,
        schedule: str | None = None,
    ) -> None:
        self.name = check_name(name, "job")
        if env is not None and not isinstance(env, Env):
            raise DeclarationError(
                f"Job {name!r}: env must be an evd Env (Env('3.11')...), not {type(env).__name__}"
            )
        self.env = env
        self.resources = merge_resources(resources, cpus, memory, gpus, gpu_memory)
        self.retries = None if retries is None else check_int(retries, "retries", minimum=0)
        self.restart = check_restart(restart)
        self.timeout = check_duration(timeout, "timeout")
        self.priority = None if priority is None else check_int(priority, "priority")
        self.description = check_text(description, "description")
        self.schedule = check_text(schedule, "schedule")
        self.entrypoint: Callable[..., Any] | None = None
        self.called = False  # whether the file itself called main while it was loaded
        self.returned: Any = None
        DECLARED.append(self)

    def main(self) -> Callable[[F], F]:
        """Mark the function the job runs: ``@job.main()``."""

        def decorate(function: F) -> F:
            if not callable(function):
                raise DeclarationError(f"@{self.name}.main() must decorate a function")
            if self.entrypoint is not None:
                raise DeclarationError(
                    f"job {self.name!r} already has a main ({self.entrypoint.__name__});"
                    " a job has exactly one"
                )

            @functools.wraps(function)
            def entry(*args: Any, **kwargs: Any) -> Any:
                self.called = True
                self.returned = function(*args, **kwargs)
                return self.returned

            self.entrypoint = entry
            return entry  # type: ignore[return-value]

        return decorate

    def to_dict(self) -> dict[str, Any]:
        """The declaration as evd reads it: the env's settings with the job's on top."""
        settings = self.env.to_dict() if self.env is not None else {}
        resources = {**settings.get("resources", {}), **self.resources}
        if resources:
            settings["resources"] = resources
        overrides = {
            "retries": self.retries,
            "restart": self.restart,
            "timeout": self.timeout,
            "priority": self.priority,
            "description": self.description,
            "schedule": self.schedule,
        }
        settings.update({key: value for key, value in overrides.items() if value is not None})
        return {
            "name": self.name,
            "main": self.entrypoint.__name__ if self.entrypoint else None,
            "has_env": self.env is not None,
            "settings": settings,
        }

    def __repr__(self) -> str:
        return f"Job({self.name!r})"
