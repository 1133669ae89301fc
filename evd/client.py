"""The synchronous client: the daemon's API as wire models, standard library only.

Job code, the TUI and the tests reach the daemon through it; its transport
(``evd.transport``: one kept-alive connection over the Unix socket, HTTP
written by ``evd.wire``) is what the CLI's hot commands use directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from evd import models
from evd.models import Group, MapRequest, RerunRequest, Run, RunState, SubmitRequest
from evd.paths import StateDir
from evd.transport import Transport, passable_environment

if TYPE_CHECKING:
    from evd.models import (
        CachedResult,
        EnvBuildRequest,
        EnvInfo,
        Health,
        ScheduleInfo,
        ScheduleRequest,
        VolumeInfo,
        WatchInfo,
        WatchRequest,
        WorkerInfo,
    )
    from evd.models.timeline import Timeline


__all__ = ["Client", "passable_environment"]


class Client(Transport):
    """Calls the daemon's API; raises ``EvdError`` subclasses with messages for people."""

    def __init__(self, state: StateDir | None = None, timeout: float | None = 30.0) -> None:
        """Talk to the daemon of ``state`` (default: ``$EVD_HOME``)."""
        self.state = state or StateDir.from_env()
        super().__init__(str(self.state.socket), timeout)

    def __enter__(self) -> Client:
        return self

    # -- API ----------------------------------------------------------------------

    def health(self, timeout: float | None = None) -> Health:
        """The daemon's version, pid and settings."""
        return models.Health.from_dict(self.call("GET", "/v1/health", timeout=timeout))

    def submit(self, request: SubmitRequest) -> Run:
        """Queue a job."""
        body = {k: v for k, v in request.__dict__.items() if v is not None}
        return Run.from_dict(self.call("POST", "/v1/runs", body))

    def submit_map(self, request: MapRequest) -> Group:
        """Queue the job once per item, as one group."""
        run = {k: v for k, v in request.run.__dict__.items() if v is not None}
        body = {"run": run, "items": request.items}
        # Each item is a run to store: give a large map the time it needs.
        timeout = max(self.timeout or 60.0, len(request.items) / 50)
        return Group.from_dict(self.call("POST", "/v1/groups", body, timeout=timeout))

    def list_groups(self, active: bool = False, limit: int | None = None) -> list[Group]:
        """Fan-out groups, newest first (``active``: only those with a run not yet ended)."""
        query: dict[str, str] = {"active": "true"} if active else {}
        if limit is not None:
            query["limit"] = str(limit)
        suffix = f"?{urlencode(query)}" if query else ""
        return [Group.from_dict(item) for item in self.call("GET", f"/v1/groups{suffix}")]

    def get_group(self, group_id: int) -> Group:
        """One group."""
        return Group.from_dict(self.call("GET", f"/v1/groups/{int(group_id)}"))

    def cancel_group(self, group_id: int) -> Group:
        """Cancel every run of a group that has not ended."""
        return Group.from_dict(self.call("POST", f"/v1/groups/{int(group_id)}/cancel"))

    def wait_group(self, group_id: int, timeout: float | None = None, poll: float = 60.0) -> Group:
        """Block until every run of the group is final (or ``timeout`` passes); return it."""
        return Group.from_dict(self.wait_group_json(group_id, timeout, poll))

    def list_runs(
        self,
        states: Iterable[RunState] | None = None,
        limit: int | None = None,
        group: int | None = None,
        before: int | None = None,
        text: str | None = None,
        *,
        labels: dict[str, str] | None = None,
    ) -> list[Run]:
        """Runs, newest first (``group``: only that group's).

        ``before``: only runs older than that run id (page on with the last id
        of the previous page). ``text``: only runs whose name contains it, or
        whose id it is. ``labels``: only runs with each of these labels.
        """
        query: list[tuple[str, str]] = [("state", s.value) for s in states or ()]
        if limit is not None:
            query.append(("limit", str(limit)))
        if group is not None:
            query.append(("group", str(group)))
        if before is not None:
            query.append(("before", str(before)))
        if text:
            query.append(("q", text))
        query += [("label", f"{key}={value}") for key, value in (labels or {}).items()]
        suffix = f"?{urlencode(query)}" if query else ""
        return [Run.from_dict(item) for item in self.call("GET", f"/v1/runs{suffix}")]

    def get_run(self, run_id: int) -> Run:
        """One run with its state changes."""
        return Run.from_dict(self.call("GET", f"/v1/runs/{int(run_id)}"))

    def cancel(self, run_id: int) -> Run:
        """Cancel a run."""
        return Run.from_dict(self.call("POST", f"/v1/runs/{int(run_id)}/cancel"))

    def rerun(self, run_id: int, args: list[str] | None = None) -> Run:
        """Submit what a run ran once more (``args``: new words for the job, else as before)."""
        body = RerunRequest(args).__dict__
        return Run.from_dict(self.call("POST", f"/v1/runs/{int(run_id)}/rerun", body))

    def wait(self, run_id: int, timeout: float | None = None, poll: float = 60.0) -> Run:
        """Block until the run is final (or ``timeout`` passes); return it."""
        return Run.from_dict(self.wait_json(run_id, timeout, poll))

    def shutdown(self) -> None:
        """Ask the daemon to stop (running jobs carry on under their shims)."""
        self.call("POST", "/v1/shutdown")

    def prune(self, older_than: float) -> int:
        """Delete finished runs that ended more than ``older_than`` seconds ago."""
        return int(
            self.call("POST", "/v1/prune", models.PruneRequest(older_than).__dict__)["removed"]
        )

    def drain(self, on: bool) -> Health:
        """``evd drain`` (``on``) or ``evd resume``."""
        return models.Health.from_dict(self.call("POST", "/v1/drain" if on else "/v1/resume"))

    def gpus(self) -> dict[str, Any]:
        """The machine's CPUs, memory and GPUs as last sampled, and the runs holding them."""
        data: dict[str, Any] = self.call("GET", "/v1/gpus")
        return data

    def queue(self, limit: int = 10) -> tuple[int, list[Run]]:
        """How many runs wait, and the first ``limit`` in start order (with why they wait)."""
        data = self.call("GET", f"/v1/queue?limit={int(limit)}")
        return int(data["length"]), [Run.from_dict(item) for item in data["head"]]

    def timeline(self, since: float = 6 * 3600) -> Timeline:
        """Who held each GPU over the last ``since`` seconds, and the planned starts ahead."""
        from evd.models.timeline import Timeline  # noqa: PLC0415 - only `evd timeline` needs it

        return Timeline.from_dict(self.call("GET", f"/v1/timeline?since={float(since)}"))

    def metrics(self, run_id: int) -> dict[str, Any]:
        """The run's peaks and sampled series (``peaks``, ``series``)."""
        data: dict[str, Any] = self.call("GET", f"/v1/runs/{int(run_id)}/metrics")
        return data

    def result(self, run_id: int) -> Any:
        """The value the run's ``main`` returned (``Conflict`` if it has none)."""
        return self.call("GET", f"/v1/runs/{int(run_id)}/result")["result"]

    def list_envs(self) -> list[EnvInfo]:
        """Built environments."""
        return [models.EnvInfo.from_dict(item) for item in self.call("GET", "/v1/envs")]

    def build_env(self, request: EnvBuildRequest, timeout: float | None = 3600) -> EnvInfo:
        """Build an environment ahead of time; returns once it is ready."""
        body = {k: v for k, v in request.__dict__.items() if v is not None}
        return models.EnvInfo.from_dict(self.call("POST", "/v1/envs/build", body, timeout=timeout))

    def prune_envs(self, older_than: float = 0.0) -> list[str]:
        """Remove unused environments; returns their hashes."""
        body = models.EnvPruneRequest(older_than).__dict__
        return list(self.call("POST", "/v1/envs/prune", body, timeout=600)["removed"])

    def list_volumes(self) -> list[VolumeInfo]:
        """Named volumes."""
        return [models.VolumeInfo.from_dict(item) for item in self.call("GET", "/v1/volumes")]

    def add_volume(self, name: str, path: str) -> VolumeInfo:
        """Define a volume."""
        body = models.VolumeRequest(name, path).__dict__
        return models.VolumeInfo.from_dict(self.call("POST", "/v1/volumes", body))

    def remove_volume(self, name: str) -> None:
        """Forget a volume (its data stays)."""
        self.call("DELETE", f"/v1/volumes/{quote(name, safe='')}")

    def list_cached(self) -> list[CachedResult]:
        """The result cache's entries, newest first."""
        return [models.CachedResult.from_dict(item) for item in self.call("GET", "/v1/cache")]

    def forget_cached(self, key: str) -> None:
        """Forget one cached result (``NotFound`` if there is none for ``key``)."""
        self.call("DELETE", f"/v1/cache/{quote(key, safe='')}")

    def prune_cache(self, older_than: float = 0.0) -> int:
        """Forget cached results made over ``older_than`` s ago and unused since; how many."""
        body = models.CachePruneRequest(older_than).__dict__
        return int(self.call("POST", "/v1/cache/prune", body)["removed"])

    def list_workers(self) -> list[WorkerInfo]:
        """Warm workers, oldest first."""
        return [models.WorkerInfo.from_dict(item) for item in self.call("GET", "/v1/workers")]

    def list_watches(self) -> list[WatchInfo]:
        """Watched folders."""
        return [models.WatchInfo.from_dict(item) for item in self.call("GET", "/v1/watches")]

    def add_watch(self, request: WatchRequest) -> WatchInfo:
        """Watch a folder for job files."""
        return models.WatchInfo.from_dict(self.call("POST", "/v1/watches", request.__dict__))

    def remove_watch(self, watch_id: int) -> WatchInfo:
        """Stop watching a folder."""
        return models.WatchInfo.from_dict(self.call("DELETE", f"/v1/watches/{int(watch_id)}"))

    def list_schedules(self) -> list[ScheduleInfo]:
        """Schedules, with their next fire times."""
        return [models.ScheduleInfo.from_dict(item) for item in self.call("GET", "/v1/schedules")]

    def add_schedule(self, request: ScheduleRequest) -> ScheduleInfo:
        """Add a schedule (the job file is read now)."""
        run = {k: v for k, v in request.run.__dict__.items() if v is not None}
        body = {**request.__dict__, "run": run}
        return models.ScheduleInfo.from_dict(self.call("POST", "/v1/schedules", body))

    def remove_schedule(self, schedule_id: int) -> ScheduleInfo:
        """Delete a schedule."""
        return models.ScheduleInfo.from_dict(
            self.call("DELETE", f"/v1/schedules/{int(schedule_id)}")
        )

    def pause_schedule(self, schedule_id: int, paused: bool) -> ScheduleInfo:
        """Pause (``paused``) or resume a schedule."""
        action = "pause" if paused else "resume"
        path = f"/v1/schedules/{int(schedule_id)}/{action}"
        return models.ScheduleInfo.from_dict(self.call("POST", path))
