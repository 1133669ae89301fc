"""How a job's settings are layered: env, file, flags; the cluster's additions; the policy."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from evd.daemon.submit.validate import Job
from evd.environments.settings import JobSettings
from evd.policy import Policy
from evd.sdk.checks import DeclarationError


def on_cluster(settings: JobSettings, cluster: str | None) -> JobSettings:
    """Settings for running on a Ray cluster: Daft's Ray runner, and Ray in the job's env.

    Ray is added unpinned unless the env names it; drivers and clusters must
    run the same Ray version, so an env for a real cluster should pin it.
    """
    if not cluster:
        return settings
    dependencies = tuple(settings.dependencies or ())
    if not any(re.match(r"ray\b(?![-_.\w])", d.strip().lower()) for d in dependencies):
        dependencies += ("ray",)
    environ = {**settings.environ, "DAFT_RUNNER": "ray", "RAY_ADDRESS": cluster}
    return dataclasses.replace(
        settings, cluster=cluster, dependencies=dependencies, environ=environ
    )


def policy_of(job: Job, declared: dict[str, Any]) -> Policy:
    """The submitter's policy flags over the job's declared ones (a flag wins over a setting)."""
    retries, restart = declared.get("retries"), declared.get("restart")
    if job.retries is not None or job.restart is not None:
        retries, restart = job.retries, job.restart
    if retries and restart not in (None, "no"):
        raise DeclarationError(
            f"the job declares both retries={retries} and restart={restart!r}: keep one"
            " (retries for a batch job, restart for a service)"
        )
    return Policy(
        retries=retries or 0,
        restart=restart or "no",
        after=job.after,
        queue_timeout=job.queue_timeout,
        keep_children=bool(
            declared.get("keep_children") if job.keep_children is None else job.keep_children
        ),
        preemptible=bool(
            declared.get("preemptible") if job.preemptible is None else job.preemptible
        ),
    )


def layer(env_layer: JobSettings, *others: JobSettings | None) -> JobSettings:
    """``env_layer`` (which alone picks the Python and packages) with the others on top."""
    settings = env_layer
    for layer in others:
        if layer is not None and layer is not env_layer:
            settings = settings.merged(dataclasses.replace(layer, python=None, dependencies=None))
    return settings
