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
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from evd.sdk.checks import (
    DeclarationError,
    check_cache,
    check_duration,
    check_int,
    check_labels,
    check_name,
    check_restart,
    check_reusable,
    check_text,
)
from evd.sdk.dataspec import check_inputs, check_meta, check_network, check_outputs
from evd.sdk.env import Env, Resources, merge_resources

F = TypeVar("F", bound=Callable[..., Any])

# Every Job made in this interpreter, in order: how evd finds a file's jobs.
DECLARED: list[Job] = []
# Set by evd where ``job.map`` must not submit: while a file's declarations are
# read (``"declarations"``), and in a fan-out's item (the item's file path).
NO_MAP: dict[str, str] = {}


class Cache:
    """How a job's result is cached: ``Job(..., cache=Cache(version="2", ignore=["verbose"]))``.

    A run whose code, arguments (but those in ``ignore``), environment and
    volumes are those of a succeeded run takes that run's result at once;
    ``version`` changes the key by hand (a new model file the key cannot see).
    """

    def __init__(self, version: str = "", ignore: list[str] | tuple[str, ...] = ()) -> None:
        self.version = version
        self.ignore = list(ignore)
        check_cache(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The declaration's table (``[tool.evd] cache = {version = "2", ignore = [...]}``)."""
        return {"version": self.version, "ignore": self.ignore}

    def __repr__(self) -> str:
        return f"Cache(version={self.version!r}, ignore={self.ignore!r})"


class Reuse:
    """Warm workers: ``Job(..., reusable=Reuse(idle_ttl="10m", replicas=1))``.

    Runs of the job are handed to a long-lived process that loaded the file
    once, so what it loads at module level (a model) serves every run; it
    holds the job's resources while it lives and stops after ``idle_ttl``
    without a run, or sooner when a waiting run needs what it holds.
    ``replicas`` is how many workers the job may have; its other runs wait.
    """

    def __init__(self, idle_ttl: float | str = "10m", replicas: int = 1) -> None:
        checked = check_reusable({"idle_ttl": idle_ttl, "replicas": replicas})
        assert checked is not None
        self.idle_ttl: float = checked["idle_ttl"]
        self.replicas: int = checked["replicas"]

    def to_dict(self) -> dict[str, Any]:
        """The declaration's table (``[tool.evd] reusable = {idle_ttl = "10m", replicas = 1}``)."""
        return {"idle_ttl": self.idle_ttl, "replicas": self.replicas}

    def __repr__(self) -> str:
        return f"Reuse(idle_ttl={self.idle_ttl!r}, replicas={self.replicas!r})"


class Job:
    """A job: a name, an ``Env``, and one ``main`` (set with ``@job.main()``).

    Compute and policy settings given here override the Env's (see ``Env``).
    ``inputs`` are staged before the run starts (``{"name": "corpus", "url":
    "https://...", "sha256": "..."}``; sources ``url``, ``path``, ``s3``,
    ``volume``), the job finds each in ``EVD_INPUT_<NAME>``; ``outputs`` name
    paths under ``EVD_OUTPUT_DIR`` and where to publish them (``{"name":
    "counts", "to": "~/results/{name}/{run_id}/"}``); ``network="none"`` runs
    the job with its own loopback and nothing else.
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
        keep_children: bool | None = None,
        cache: bool | Cache | None = None,
        reusable: bool | Reuse | None = None,
        labels: dict[str, str] | None = None,
        meta: dict[str, str] | None = None,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
        network: str | None = None,
        preemptible: bool | None = None,
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
        if keep_children is not None and not isinstance(keep_children, bool):
            raise DeclarationError(f"keep_children must be True or False, not {keep_children!r}")
        self.keep_children = keep_children
        self.cache = check_cache(cache.to_dict() if isinstance(cache, Cache) else cache)
        self.labels = check_labels(labels)
        self.meta = check_meta(meta)
        self.inputs = check_inputs(inputs)
        self.outputs = check_outputs(outputs)
        self.network = check_network(network)
        if preemptible is not None and not isinstance(preemptible, bool):
            raise DeclarationError(f"preemptible must be True or False, not {preemptible!r}")
        self.preemptible = preemptible
        self.reusable = check_reusable(
            reusable.to_dict() if isinstance(reusable, Reuse) else reusable
        )
        self.entrypoint: Callable[..., Any] | None = None
        self.called = False  # whether the file itself called main while it was loaded
        self.returned: Any = None
        # The file that declares the job: what ``job.map`` submits.
        self.file: str | None = sys._getframe(1).f_globals.get("__file__")
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

    def map(self, items: Iterable[Any], *, name: str | None = None) -> Any:
        """Run this job once per item, as one group; return a ``Fanout`` to follow it.

        An item that is a list gives ``main`` positional arguments, a dict
        keyword arguments, anything else one argument; items must be JSON.
        Each run has the job's env and resources. The group is named ``name``
        (default: the job's name) and its runs ``NAME[0]``, ``NAME[1]``...
        """
        from evd.sdk import fanout  # noqa: PLC0415 - the client loads only when a job fans out

        if "declarations" in NO_MAP:
            raise DeclarationError(
                f"{self.name}.map() runs while the file is loaded: call it from a main or"
                " under `if __name__ == '__main__':`, or every load would fan out"
            )
        if self.file is not None and NO_MAP.get("item") == self.file:
            raise DeclarationError(
                f"{self.name}.map() called in a run that is itself an item of a fan-out of this"
                " file: every item would fan out again. Map from a run that is not an item"
                " (e.g. main called without item arguments)"
            )
        if self.entrypoint is None:
            raise DeclarationError(f"{self.name}.map(): the job has no @{self.name}.main() yet")
        if self.file is None:
            raise DeclarationError(f"{self.name}.map(): evd cannot tell which file declares it")
        items = list(items)
        if not items:
            raise DeclarationError(f"{self.name}.map() got no items")
        return fanout.submit(self.file, self.entrypoint.__name__, items, name or self.name)

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
            "keep_children": self.keep_children,
            "cache": self.cache,
            "reusable": self.reusable,
            "network": self.network,
            "preemptible": self.preemptible,
            "inputs": self.inputs or None,
            "outputs": self.outputs or None,
        }
        settings.update({key: value for key, value in overrides.items() if value is not None})
        for table in ("labels", "meta"):  # over the env's, key by key
            if getattr(self, table):
                settings[table] = {**settings.get(table, {}), **getattr(self, table)}
        return {
            "name": self.name,
            "main": self.entrypoint.__name__ if self.entrypoint else None,
            "has_env": self.env is not None,
            "settings": settings,
        }

    def __repr__(self) -> str:
        return f"Job({self.name!r})"
