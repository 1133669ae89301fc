"""The HTTP trigger: the same API on a TCP port, behind a bearer token (off unless asked for).

Every request on the port must carry ``Authorization: Bearer TOKEN`` with the
token of ``$EVD_HOME/http-token`` (made on first use, mode 0600). Requests with
an ``Origin`` header (a browser page, which any site can make send requests to
localhost) and requests whose ``Host`` is not the listener's own name (DNS
rebinding) are refused before the token is even looked at. The Unix socket,
guarded by its file mode, needs none of this.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evd.errors import EvdError

TOKEN_FILE = "http-token"
LOOPBACK = "127.0.0.1"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ListenError(EvdError):
    """``--http`` was given an address evd cannot use."""

    exit_code = 2


@dataclass(frozen=True)
class Listen:
    """Where the HTTP trigger listens."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def allowed_hosts(self) -> frozenset[str]:
        """``Host`` header values that name this listener (with and without the port)."""
        names = {self.host, "localhost", "127.0.0.1", "[::1]"}
        if ":" in self.host:
            names.add(f"[{self.host}]")
        return frozenset({*names, *(f"{name}:{self.port}" for name in names)})


def parse_listen(text: str) -> Listen:
    """``8765``, ``127.0.0.1:8765`` or ``[::1]:8765``; a bare port means loopback."""
    host, port = LOOPBACK, text.strip()
    if ":" in port:
        host, _, port = port.rpartition(":")
        host = host.strip("[]") or LOOPBACK
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ListenError(f"--http {text!r}: expected [HOST:]PORT, e.g. 8765 or 127.0.0.1:8765")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ListenError(f"--http {text!r}: give the host as an IP address") from None
    return Listen(host, int(port))


def load_token(root: Path) -> str:
    """The token in ``root/http-token``, made (mode 0600) if there is none."""
    path = root / TOKEN_FILE
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    return token


class TokenGate:
    """ASGI middleware: only token-bearing, non-browser requests for this host get through."""

    def __init__(self, app: ASGIApp, token: str, listen: Listen) -> None:
        """Guard ``app`` with ``token``; ``listen`` says which ``Host`` names are ours."""
        self.app = app
        self._token = token.encode()
        self._hosts = listen.allowed_hosts()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 403/401 to what must not pass; hand the rest to the API."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value for key, value in scope["headers"]}
        refusal = self._refusal(headers)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        body = json.dumps({"error": message}).encode()
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, headers: dict[str, bytes]) -> tuple[int, str] | None:
        if "origin" in headers:
            return 403, "requests from web pages (with an Origin header) are refused"
        host = headers.get("host", b"").decode("latin-1").lower()
        if host not in self._hosts:
            return 403, f"Host {host!r} is not this evd's address; requests are refused"
        scheme, _, given = headers.get("authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self._token):
            return (
                401,
                "a bearer token is required: Authorization: Bearer $(cat $EVD_HOME/http-token)",
            )
        return None
