"""HTTP/1.1 over a connected socket, written by hand: the client's transport.

``http.client`` imports ``email`` and ``ssl`` (about 20 ms of every ``evd``
command's start). The daemon speaks plain HTTP/1.1, framing each body by
``Content-Length`` or ``Transfer-Encoding: chunked``; that is all this reads.
Standard library only; it reads and writes any connected socket.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Iterator

_READ = 65536
_MAX_HEAD = 65536  # a status line and headers longer than this are not evd's


class Disconnected(ConnectionError):
    """The other end closed the connection before the answer was complete."""


class Response:
    """An answer's status and headers; its body is read through the connection."""

    def __init__(self, status: int, headers: dict[str, str], version: str) -> None:
        """Keep what the head said (header names lower-cased)."""
        self.status = status
        self.headers = headers
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.chunked = chunked
        self.length = (
            None if chunked or "content-length" not in headers else int(headers["content-length"])
        )
        closing = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        # Without framing the body runs to the end of the connection.
        self.will_close = closing or (not chunked and self.length is None)


class Connection:
    """One HTTP/1.1 connection on ``sock``: a request, then its answer, in turn."""

    def __init__(self, sock: socket) -> None:
        """Talk over ``sock`` (connected; its timeout applies to every read)."""
        self.sock = sock
        self._buffer = b""

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> Response:
        """Send a request and read the head of its answer."""
        head = f"{method} {path} HTTP/1.1\r\nHost: evd\r\n"
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
            if content_type:
                head += f"Content-Type: {content_type}\r\n"
        self.sock.sendall(head.encode("latin-1") + b"\r\n" + (body or b""))
        return self._read_head()

    def read(self, response: Response) -> bytes:
        """The whole body of ``response``."""
        if response.length is not None:
            return self._take(response.length)
        return b"".join(self.chunks(response))

    def chunks(self, response: Response) -> Iterator[bytes]:
        """The body of ``response`` as it arrives (for streams that last)."""
        if response.length is not None:
            yield self._take(response.length)
        elif response.chunked:
            yield from self._chunked()
        else:
            while data := self._pop_or_recv():
                yield data

    # -- reading -----------------------------------------------------------------

    def _recv(self) -> bytes:
        data = self.sock.recv(_READ)
        if not data:
            raise Disconnected("the connection closed before the answer ended")
        return data

    def _pop_or_recv(self) -> bytes:
        if self._buffer:
            data, self._buffer = self._buffer, b""
            return data
        return self.sock.recv(_READ)

    def _read_head(self) -> Response:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > _MAX_HEAD:
                raise Disconnected("the answer's head is too long to be evd's")
            self._buffer += self._recv()
        head, self._buffer = self._buffer[:end].decode("latin-1"), self._buffer[end + 4 :]
        status_line, *lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(int(rest[:3]), headers, version)

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._buffer += self._recv()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            self._buffer += self._recv()
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    def _chunked(self) -> Iterator[bytes]:
        while True:
            size = int(self._line().split(b";", 1)[0], 16)
            if size == 0:
                while self._line():  # trailers, up to the blank line
                    pass
                return
            # Hand over what has come so far: a log line need not wait for its chunk's end.
            while size:
                if not self._buffer:
                    self._buffer = self._recv()
                data, self._buffer = self._buffer[:size], self._buffer[size:]
                size -= len(data)
                yield data
            self._take(2)  # the CRLF after a chunk's data
