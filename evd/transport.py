"""Calls to the daemon's API, JSON in and JSON out, over its Unix socket.

``Transport`` is the part of the client that every ``evd`` command needs:
one kept-alive connection, a retry when the daemon closed it, an answer's
status turned into evd's error for it. ``evd.client.Client`` builds the wire
models on top; the CLI's hot commands use plain dicts (building the models'
dataclasses costs more than the call). Standard library only, and no
``pathlib``, ``typing`` or ``dataclasses``: it is on every command's path.
"""

from __future__ import annotations

# socket.py builds its address-family and kind enums at import, which costs a
# command more than its call to the daemon; its C module is all a Unix socket needs.
import _socket
import os
import time

from evd.errors import DaemonNotRunning, DaemonUnavailable, EvdError, error_for_status
from evd.homedir import socket_path
from evd.jsonwire import dumps, loads
from evd.models.statenames import FINAL_STATE_NAMES
from evd.sockets import reachable_path
from evd.wire import Connection, Disconnected, Response

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any


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


def _connect(socket_file: str, timeout: float | None) -> Connection:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with reachable_path(socket_file) as path:
            sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise DaemonNotRunning(
            f"evd is not running (nothing answers at {socket_file}); start it with `evd up`"
        ) from None
    except OSError:
        sock.close()
        raise
    return Connection(sock)


class Transport:
    """One connection to the daemon; raises ``EvdError`` subclasses with messages for people."""

    def __init__(self, socket_file: str | None = None, timeout: float | None = 30.0) -> None:
        """Talk to the daemon at ``socket_file`` (default: ``$EVD_HOME``'s)."""
        self.socket = socket_file or socket_path()
        self.timeout = timeout
        self._conn: Connection | None = None

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(
        self, method: str, path: str, body: Any, timeout: float | None
    ) -> tuple[Connection, Response]:
        """Send a request on the kept-alive connection; its answer's head, body unread."""
        data = None if body is None else dumps(body).encode()
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = _connect(self.socket, timeout)
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

    def call(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        """One request; the answer's JSON, or the ``EvdError`` its status stands for."""
        timeout = timeout or self.timeout
        conn, response = self.send(method, path, body, timeout)
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
            payload = loads(raw) if raw else None
        except ValueError:
            raise EvdError(f"evd answered {response.status} with non-JSON: {raw[:200]!r}") from None
        if response.status >= 400:
            message = payload.get("error") if isinstance(payload, dict) else None
            raise error_for_status(response.status, message or f"HTTP {response.status}")
        return payload

    def stream(self, path: str) -> Iterator[bytes]:
        """A ``GET`` whose body lasts (a log followed, the events), as it arrives."""
        # A stream gets its own connection so the kept-alive one stays usable.
        conn = _connect(self.socket, None)
        try:
            try:
                response = conn.request("GET", path)
                if response.status >= 400:
                    payload = loads(conn.read(response) or b"{}")
                    raise error_for_status(
                        response.status, payload.get("error", f"HTTP {response.status}")
                    )
                yield from conn.chunks(response)
            except Disconnected:
                raise DaemonUnavailable("evd stopped while streaming") from None
        finally:
            conn.close()

    # -- waiting -------------------------------------------------------------------

    def wait_json(
        self, run_id: int, timeout: float | None = None, poll: float = 60.0
    ) -> dict[str, Any]:
        """Block until the run is final (or ``timeout`` passes); the run's JSON."""
        return self._poll(f"/v1/runs/{int(run_id)}/wait", _run_ended, timeout, poll)

    def wait_group_json(
        self, group_id: int, timeout: float | None = None, poll: float = 60.0
    ) -> dict[str, Any]:
        """Block until every run of the group is final (or ``timeout`` passes); its JSON."""
        return self._poll(f"/v1/groups/{int(group_id)}/wait", _group_ended, timeout, poll)

    def _poll(
        self,
        path: str,
        ended: Callable[[dict[str, Any]], bool],
        timeout: float | None,
        poll: float,
    ) -> dict[str, Any]:
        # The daemon holds each call up to `step` seconds: a long wait is a few calls.
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = poll if deadline is None else max(0.001, min(poll, deadline - time.monotonic()))
            data: dict[str, Any] = self.call("GET", f"{path}?timeout={step}", timeout=step + 30)
            if ended(data) or (deadline is not None and time.monotonic() >= deadline):
                return data

    # -- streams --------------------------------------------------------------------

    def logs(
        self, run_id: int, follow: bool = False, offset: int = 0, build: bool = False
    ) -> Iterator[bytes]:
        """The run's log in chunks; with ``follow``, until the run ends.

        ``build``: the log of building the run's environment instead.
        """
        query = f"follow={_flag(follow)}&offset={int(offset)}&build={_flag(build)}"
        return self.stream(f"/v1/runs/{int(run_id)}/log?{query}")

    def events(self, after: int | None = None, progress: bool = False) -> Iterator[dict[str, Any]]:
        """Every run state change as it happens (after event ``after``, if given).

        With ``progress``, running runs' progress reports too (``kind: "progress"``).
        """
        query = [f"after={int(after)}"] if after is not None else []
        if progress:
            query.append("progress=true")
        suffix = f"?{'&'.join(query)}" if query else ""
        buffer = b""
        for chunk in self.stream(f"/v1/events{suffix}"):
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        yield loads(line[6:])


def _run_ended(run: dict[str, Any]) -> bool:
    return run["state"] in FINAL_STATE_NAMES


def _group_ended(group: dict[str, Any]) -> bool:
    return group["state"] not in ("queued", "running")


def _flag(value: bool) -> str:
    return "true" if value else "false"
