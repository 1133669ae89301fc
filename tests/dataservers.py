"""Local servers for the tests of inputs and outputs: an HTTP file server and moto's S3.

The HTTP server serves files from a dict, honours ``Range``, counts requests,
answers ``ETag`` validators with 304, and can misbehave on purpose: ``slow``
paths send a chunk a tick, ``broken`` paths break off half-way the first time.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import obstore
from obstore.store import S3Store

SLOW_CHUNK = 64 * 1024


class Files:
    """What the HTTP server serves, and what it was asked."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.slow: set[str] = set()
        self.broken: set[str] = set()
        self.requests: Counter[str] = Counter()
        self.ranges: list[str] = []
        self.url = ""

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return f"{self.url}{path}"


def _handler(files: Files) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            files.requests[self.path] += 1
            data = files.files.get(self.path)
            if data is None:
                self.send_error(404, "Not Found")
                return
            etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            start = 0
            wanted = self.headers.get("Range")
            if wanted and wanted.startswith("bytes="):
                files.ranges.append(wanted)
                start = int(wanted[6:].split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            if self.path in files.broken:
                files.broken.discard(self.path)  # once
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if self.path in files.slow:
                for offset in range(0, len(body), SLOW_CHUNK):
                    self.wfile.write(body[offset : offset + SLOW_CHUNK])
                    self.wfile.flush()
                    time.sleep(0.2)
                return
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def http_files() -> Iterator[Files]:
    """An HTTP server on a free loopback port, serving ``Files``."""
    files = Files()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files))
    server.daemon_threads = True
    files.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield files
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def s3_server(tmp: Path, *, auth: bool = False) -> Iterator[str]:
    """moto's S3 server on a free port (``auth``: requests must be signed by a known key)."""
    port = _free_port()
    env = {"PATH": "/usr/bin:/bin", **({"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if auth else {})}
    log = open(tmp / f"moto-{port}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's server did not start: {(tmp / log.name).read_text()}")
            time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def s3_client(endpoint: str) -> Any:
    """An obstore-backed helper for the tests: make buckets, put and list objects."""
    return _S3(endpoint)


class _S3:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def store(self, bucket: str) -> Any:
        return S3Store(
            bucket, endpoint=self.endpoint, region="us-east-1", access_key_id="test",
            secret_access_key="test", client_options={"allow_http": True},
        )  # fmt: skip

    def make_bucket(self, bucket: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT")
        urllib.request.urlopen(request, timeout=30).close()

    def put(self, bucket: str, key: str, data: bytes) -> None:
        obstore.put(self.store(bucket), key, data)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        found = obstore.list(self.store(bucket), prefix=prefix or None)
        return sorted(meta["path"] for batch in found for meta in batch)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(obstore.get(self.store(bucket), key).bytes())
