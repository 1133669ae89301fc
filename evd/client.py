"""The synchronous client: HTTP over the daemon's Unix socket, standard library only.

The CLI uses nothing else to reach the daemon, and job code can import it
cheaply (its HTTP is ``evd.wire``: no ``http.client``, whose import costs ~20 ms).
One connection is kept alive across calls.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from evd import models
from evd.errors import DaemonNotRunning, DaemonUnavailable, EvdError, error_for_status
from evd.models import Group, MapRequest, RerunRequest, Run, RunState, SubmitRequest
from evd.paths import StateDir
from evd.sockets import reachable_path
from evd.wire import Connection, Disconnected, Response

if TYPE_CHECKING:
    from evd.models import (
        EnvBuildRequest,
        EnvInfo,
        Health,
        ScheduleInfo,
        ScheduleRequest,
        VolumeInfo,
        WatchInfo,
        WatchRequest,
    )


def passable_environment() -> tuple[dict[str, str], list[str]]:
    """The environment variables of this process, as a submit passes them to its job.

    Returns the variables and the names of those left out (not valid UTF-8,
    so they cannot cross the API's JSON).
    """
    env: dict[str, str] = {}
    skipped: list[str] = []
    for key, value in os.environ.items():
        try:
            key.encode()
            value.encode()
        except UnicodeEncodeError:
            skipped.append(key)
            continue
        env[key] = value
    return env, skipped


def _connect(state: StateDir, timeout: float | None) -> Connection:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with reachable_path(state.socket) as path:
            sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise DaemonNotRunning(
            f"evd is not running (nothing answers at {state.socket}); start it with `evd up`"
        ) from None
    except OSError:
        sock.close()
        raise
    return Connection(sock)


class Client:
    """Calls the daemon's API; raises ``EvdError`` subclasses with messages for people."""

    def __init__(self, state: StateDir | None = None, timeout: float | None = 30.0) -> None:
        """Talk to the daemon of ``state`` (default: ``$EVD_HOME``)."""
        self.state = state or StateDir.from_env()
        self.timeout = timeout
        self._conn: Connection | None = None

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------

    def _send(
        self, method: str, path: str, body: Any, timeout: float | None
    ) -> tuple[Connection, Response]:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = _connect(self.state, timeout)
            conn = self._conn
            conn.sock.settimeout(timeout)
            try:
                return conn, conn.request(method, path, data, "application/json")
            except ConnectionError:
                # A kept-alive connection the server has since closed: retry once, fresh.
                self.close()
                if attempt == 2:
                    raise DaemonUnavailable("evd closed the connection; is it stopping?") from None
            except TimeoutError:
                self.close()
                raise DaemonUnavailable(f"evd did not answer within {timeout} s") from None
            except BaseException:
                # Never reuse a connection left mid-request.
                self.close()
                raise
        raise AssertionError("unreachable")

    def _call(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        conn, response = self._send(method, path, body, timeout or self.timeout)
        try:
            raw = conn.read(response)
        except ConnectionError:
            self.close()
            raise DaemonUnavailable("evd broke off its answer; is it stopping?") from None
        except TimeoutError:
            self.close()
            raise DaemonUnavailable(f"evd did not finish answering within {timeout} s") from None
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            raise EvdError(f"evd answered {response.status} with non-JSON: {raw[:200]!r}") from None
        if response.status >= 400:
            message = payload.get("error") if isinstance(payload, dict) else None
            raise error_for_status(response.status, message or f"HTTP {response.status}")
        return payload

    def _stream(self, path: str) -> Iterator[bytes]:
        # A stream gets its own connection so the kept-alive one stays usable.
        conn = _connect(self.state, None)
        try:
            try:
                response = conn.request("GET", path)
                if response.status >= 400:
                    payload = json.loads(conn.read(response) or b"{}")
                    raise error_for_status(
                        response.status, payload.get("error", f"HTTP {response.status}")
                    )
                yield from conn.chunks(response)
            except Disconnected:
                raise DaemonUnavailable("evd stopped while streaming") from None
        finally:
            conn.close()

    # -- API ----------------------------------------------------------------------

    def health(self, timeout: float | None = None) -> Health:
        """The daemon's version, pid and settings."""
        return models.Health.from_dict(self._call("GET", "/v1/health", timeout=timeout))

    def submit(self, request: SubmitRequest) -> Run:
        """Queue a job."""
        body = {k: v for k, v in request.__dict__.items() if v is not None}
        return Run.from_dict(self._call("POST", "/v1/runs", body))

    def submit_map(self, request: MapRequest) -> Group:
        """Queue the job once per item, as one group."""
        run = {k: v for k, v in request.run.__dict__.items() if v is not None}
        body = {"run": run, "items": request.items}
        # Each item is a run to store: give a large map the time it needs.
        timeout = max(self.timeout or 60.0, len(request.items) / 50)
        return Group.from_dict(self._call("POST", "/v1/groups", body, timeout=timeout))

    def list_groups(self, active: bool = False, limit: int | None = None) -> list[Group]:
        """Fan-out groups, newest first (``active``: only those with a run not yet ended)."""
        query: dict[str, str] = {"active": "true"} if active else {}
        if limit is not None:
            query["limit"] = str(limit)
        suffix = f"?{urlencode(query)}" if query else ""
        return [Group.from_dict(item) for item in self._call("GET", f"/v1/groups{suffix}")]

    def get_group(self, group_id: int) -> Group:
        """One group."""
        return Group.from_dict(self._call("GET", f"/v1/groups/{int(group_id)}"))

    def cancel_group(self, group_id: int) -> Group:
        """Cancel every run of a group that has not ended."""
        return Group.from_dict(self._call("POST", f"/v1/groups/{int(group_id)}/cancel"))

    def wait_group(self, group_id: int, timeout: float | None = None, poll: float = 60.0) -> Group:
        """Block until every run of the group is final (or ``timeout`` passes); return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = poll if deadline is None else max(0.001, min(poll, deadline - time.monotonic()))
            path = f"/v1/groups/{int(group_id)}/wait?timeout={step}"
            group = Group.from_dict(self._call("GET", path, timeout=step + 30))
            finished = group.state not in ("queued", "running")
            if finished or (deadline is not None and time.monotonic() >= deadline):
                return group

    def list_runs(
        self,
        states: Iterable[RunState] | None = None,
        limit: int | None = None,
        group: int | None = None,
        before: int | None = None,
        text: str | None = None,
    ) -> list[Run]:
        """Runs, newest first (``group``: only that group's).

        ``before``: only runs older than that run id (page on with the last id
        of the previous page). ``text``: only runs whose name contains it, or
        whose id it is.
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
        suffix = f"?{urlencode(query)}" if query else ""
        return [Run.from_dict(item) for item in self._call("GET", f"/v1/runs{suffix}")]

    def get_run(self, run_id: int) -> Run:
        """One run with its state changes."""
        return Run.from_dict(self._call("GET", f"/v1/runs/{int(run_id)}"))

    def cancel(self, run_id: int) -> Run:
        """Cancel a run."""
        return Run.from_dict(self._call("POST", f"/v1/runs/{int(run_id)}/cancel"))

    def rerun(self, run_id: int, args: list[str] | None = None) -> Run:
        """Submit what a run ran once more (``args``: new words for the job, else as before)."""
        body = RerunRequest(args).__dict__
        return Run.from_dict(self._call("POST", f"/v1/runs/{int(run_id)}/rerun", body))

    def wait(self, run_id: int, timeout: float | None = None, poll: float = 60.0) -> Run:
        """Block until the run is final (or ``timeout`` passes); return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = poll if deadline is None else max(0.001, min(poll, deadline - time.monotonic()))
            run = Run.from_dict(
                self._call("GET", f"/v1/runs/{int(run_id)}/wait?timeout={step}", timeout=step + 30)
            )
            if run.state.is_final or (deadline is not None and time.monotonic() >= deadline):
                return run

    def logs(
        self, run_id: int, follow: bool = False, offset: int = 0, build: bool = False
    ) -> Iterator[bytes]:
        """The run's log in chunks; with ``follow``, until the run ends.

        ``build``: the log of building the run's environment instead.
        """
        query = urlencode(
            {"follow": str(follow).lower(), "offset": offset, "build": str(build).lower()}
        )
        return self._stream(f"/v1/runs/{int(run_id)}/log?{query}")

    def events(self, after: int | None = None, progress: bool = False) -> Iterator[dict[str, Any]]:
        """Every run state change as it happens (after event ``after``, if given).

        With ``progress``, running runs' progress reports too (``kind: "progress"``).
        """
        query: dict[str, str] = {"after": str(after)} if after is not None else {}
        if progress:
            query["progress"] = "true"
        suffix = f"?{urlencode(query)}" if query else ""
        buffer = b""
        for chunk in self._stream(f"/v1/events{suffix}"):
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        yield json.loads(line[6:])

    def shutdown(self) -> None:
        """Ask the daemon to stop (running jobs carry on under their shims)."""
        self._call("POST", "/v1/shutdown")

    def prune(self, older_than: float) -> int:
        """Delete finished runs that ended more than ``older_than`` seconds ago."""
        return int(
            self._call("POST", "/v1/prune", models.PruneRequest(older_than).__dict__)["removed"]
        )

    def drain(self, on: bool) -> Health:
        """``evd drain`` (``on``) or ``evd resume``."""
        return models.Health.from_dict(self._call("POST", "/v1/drain" if on else "/v1/resume"))

    def gpus(self) -> dict[str, Any]:
        """The machine's CPUs, memory and GPUs as last sampled, and the runs holding them."""
        data: dict[str, Any] = self._call("GET", "/v1/gpus")
        return data

    def queue(self, limit: int = 10) -> tuple[int, list[Run]]:
        """How many runs wait, and the first ``limit`` in start order (with why they wait)."""
        data = self._call("GET", f"/v1/queue?limit={int(limit)}")
        return int(data["length"]), [Run.from_dict(item) for item in data["head"]]

    def metrics(self, run_id: int) -> dict[str, Any]:
        """The run's peaks and sampled series (``peaks``, ``series``)."""
        data: dict[str, Any] = self._call("GET", f"/v1/runs/{int(run_id)}/metrics")
        return data

    def result(self, run_id: int) -> Any:
        """The value the run's ``main`` returned (``Conflict`` if it has none)."""
        return self._call("GET", f"/v1/runs/{int(run_id)}/result")["result"]

    def list_envs(self) -> list[EnvInfo]:
        """Built environments."""
        return [models.EnvInfo.from_dict(item) for item in self._call("GET", "/v1/envs")]

    def build_env(self, request: EnvBuildRequest, timeout: float | None = 3600) -> EnvInfo:
        """Build an environment ahead of time; returns once it is ready."""
        body = {k: v for k, v in request.__dict__.items() if v is not None}
        return models.EnvInfo.from_dict(self._call("POST", "/v1/envs/build", body, timeout=timeout))

    def prune_envs(self, older_than: float = 0.0) -> list[str]:
        """Remove unused environments; returns their hashes."""
        body = models.EnvPruneRequest(older_than).__dict__
        return list(self._call("POST", "/v1/envs/prune", body, timeout=600)["removed"])

    def list_volumes(self) -> list[VolumeInfo]:
        """Named volumes."""
        return [models.VolumeInfo.from_dict(item) for item in self._call("GET", "/v1/volumes")]

    def add_volume(self, name: str, path: str) -> VolumeInfo:
        """Define a volume."""
        body = models.VolumeRequest(name, path).__dict__
        return models.VolumeInfo.from_dict(self._call("POST", "/v1/volumes", body))

    def remove_volume(self, name: str) -> None:
        """Forget a volume (its data stays)."""
        self._call("DELETE", f"/v1/volumes/{quote(name, safe='')}")

    def list_watches(self) -> list[WatchInfo]:
        """Watched folders."""
        return [models.WatchInfo.from_dict(item) for item in self._call("GET", "/v1/watches")]

    def add_watch(self, request: WatchRequest) -> WatchInfo:
        """Watch a folder for job files."""
        return models.WatchInfo.from_dict(self._call("POST", "/v1/watches", request.__dict__))

    def remove_watch(self, watch_id: int) -> WatchInfo:
        """Stop watching a folder."""
        return models.WatchInfo.from_dict(self._call("DELETE", f"/v1/watches/{int(watch_id)}"))

    def list_schedules(self) -> list[ScheduleInfo]:
        """Schedules, with their next fire times."""
        return [models.ScheduleInfo.from_dict(item) for item in self._call("GET", "/v1/schedules")]

    def add_schedule(self, request: ScheduleRequest) -> ScheduleInfo:
        """Add a schedule (the job file is read now)."""
        run = {k: v for k, v in request.run.__dict__.items() if v is not None}
        body = {**request.__dict__, "run": run}
        return models.ScheduleInfo.from_dict(self._call("POST", "/v1/schedules", body))

    def remove_schedule(self, schedule_id: int) -> ScheduleInfo:
        """Delete a schedule."""
        return models.ScheduleInfo.from_dict(
            self._call("DELETE", f"/v1/schedules/{int(schedule_id)}")
        )

    def pause_schedule(self, schedule_id: int, paused: bool) -> ScheduleInfo:
        """Pause (``paused``) or resume a schedule."""
        action = "pause" if paused else "resume"
        path = f"/v1/schedules/{int(schedule_id)}/{action}"
        return models.ScheduleInfo.from_dict(self._call("POST", path))
