"""``job.map(items)``: one run of a job per item, as one group (standard library only).

Called from a developer's script or notebook, or from inside a running job
(the coordinating run of a fan-out), it submits the job's file the way ``evd
run --map`` does and returns a ``Fanout`` to follow the group::

    shards = job.map([{"shard": i} for i in range(8)])
    totals = shards.results()  # waits; raises FanoutFailed if a run did not succeed
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from evd.client import Client
from evd.errors import Conflict, EvdError
from evd.models import Group, MapRequest, SubmitRequest


class FanoutFailed(EvdError):
    """Some runs of a fan-out did not succeed (``.results()`` names them)."""

    exit_code = 1


class Fanout:
    """The runs of one ``job.map`` call: follow, wait for, cancel them, read their results."""

    def __init__(self, group_id: int, name: str, run_ids: Sequence[int]) -> None:
        """A handle on group ``group_id`` (``evd show g{group_id}``)."""
        self.id = group_id
        self.name = name
        self.run_ids = list(run_ids)

    def status(self) -> Group:
        """The group as it is now (``evd.models.Group``: state, counts, progress)."""
        with Client() as client:
            return client.get_group(self.id)

    def wait(self, timeout: float | None = None) -> Group:
        """Block until every run has ended (or ``timeout`` seconds pass); return the group."""
        with Client(timeout=None) as client:
            return client.wait_group(self.id, timeout=timeout)

    def cancel(self) -> Group:
        """Cancel the runs that have not ended; return the group."""
        with Client() as client:
            return client.cancel_group(self.id)

    def results(self, timeout: float | None = None) -> list[Any]:
        """Each run's result in item order, once all have succeeded.

        A run whose ``main`` returned nothing (or an ``int`` exit code) gives
        ``None``. ``FanoutFailed`` names the runs that did not succeed;
        ``TimeoutError`` if ``timeout`` passes first.
        """
        group = self.wait(timeout)
        if group.state in ("queued", "running"):
            raise TimeoutError(f"group {self.id} ({self.name}) is still {group.state}")
        with Client() as client:
            runs = [client.get_run(run_id) for run_id in group.run_ids]
            failed = [run for run in runs if run.state.value != "succeeded"]
            if failed:
                listed = "; ".join(
                    f"run {run.id} ({run.name}) {run.state.value}"
                    + (f": {run.reason}" if run.reason else "")
                    for run in failed[:5]
                )
                more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
                raise FanoutFailed(
                    f"{len(failed)} of {len(runs)} runs of group {self.id} ({self.name}) did not"
                    f" succeed: {listed}{more}"
                )
            values: list[Any] = []
            for run in runs:
                try:
                    values.append(client.result(run.id))
                except Conflict:  # no result: main returned None or an exit code
                    values.append(None)
            return values

    def __repr__(self) -> str:
        return f"Fanout(id={self.id}, name={self.name!r}, runs={len(self.run_ids)})"


def submit(file: str, function: str, items: list[Any], name: str | None) -> Fanout:
    """Submit ``file``'s ``function`` once per item; the submitter's environment goes along."""
    run = SubmitRequest(
        file=file, function=function, name=name, cwd=os.getcwd(), env=dict(os.environ)
    )
    with Client() as client:
        group = client.submit_map(MapRequest(run=run, items=items))
    return Fanout(group.id, group.name, group.run_ids)
