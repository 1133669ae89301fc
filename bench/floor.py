"""The floor of evd's design: the least a durable Python runner with an ``sh`` shim can do.

A skeleton server does per job only what evd's guarantees need, and nothing
else: read one HTTP request, insert the run and its event and commit
(SQLite WAL, ``synchronous=FULL``) before answering, make the run's folder,
``posix_spawn`` evd's own shim, watch it through a pidfd, read its ``exit``
record and write the end (group-committed within 5 ms, as evd does). No
validation, no scheduler, no views, no FastAPI. What it reaches is what evd's
design allows a Python daemon; it is printed beside task-spooler (which
commits nothing and forks its jobs from a C server) and beside evd in the
same run, as ratios.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from run import LATENCY_SAMPLES, STAMP, THROUGHPUT_JOBS, evd_latency, evd_throughput, task_spooler

from evd.client import Client
from evd.paths import StateDir
from evd.runner.shim import shim_argv

SLOTS = 2


class Skeleton:
    """The server: one run table, one event table, a queue, the live shims."""

    def __init__(self, home: Path) -> None:
        self.home = home
        (home / "runs").mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(home / "db", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute(
            "CREATE TABLE runs(id INTEGER PRIMARY KEY, state TEXT, command TEXT, env TEXT,"
            " pid INT, code INT, created REAL, started REAL, ended REAL)"
        )
        self.db.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, run INT, state TEXT, at REAL)")
        self.queue: list[tuple[int, list[str], dict[str, str]]] = []
        self.live = 0
        self.flush_pending = False
        self.loop = asyncio.new_event_loop()

    def write(self, sql: str, args: tuple[Any, ...]) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
        self.db.execute(sql, args)

    def commit(self) -> None:
        self.flush_pending = False
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def commit_soon(self) -> None:
        if not self.flush_pending:
            self.flush_pending = True
            self.loop.call_later(0.005, self.commit)

    def submit(self, command: list[str], env: dict[str, str]) -> int:
        now = time.time()
        self.write(
            "INSERT INTO runs(state, command, env, created) VALUES ('queued', ?, ?, ?)",
            (json.dumps(command), json.dumps(env), now),
        )
        run_id = self.db.execute("SELECT last_insert_rowid()").fetchone()[0]
        self.write("INSERT INTO events(run, state, at) VALUES (?, 'queued', ?)", (run_id, now))
        self.commit()  # durable before it is answered
        self.queue.append((run_id, command, env))
        self.tick()
        return int(run_id)

    def tick(self) -> None:
        while self.queue and self.live < SLOTS:
            run_id, command, env = self.queue.pop(0)
            run_dir = self.home / "runs" / str(run_id)
            run_dir.mkdir()
            pid = os.posix_spawn(
                "/bin/sh",
                shim_argv(run_dir, "/", command),
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, str(run_dir / "output.log"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,
            )  # fmt: skip
            now = time.time()
            self.write(
                "UPDATE runs SET state='running', pid=?, started=? WHERE id=?", (pid, now, run_id)
            )
            self.write("INSERT INTO events(run, state, at) VALUES (?, 'running', ?)", (run_id, now))
            self.commit_soon()
            fd = os.pidfd_open(pid)
            self.live += 1
            self.loop.add_reader(fd, self.ended, run_id, pid, fd, run_dir)

    def ended(self, run_id: int, pid: int, fd: int, run_dir: Path) -> None:
        self.loop.remove_reader(fd)
        os.close(fd)
        os.waitpid(pid, 0)
        self.live -= 1
        code = int((run_dir / "exit").read_text())
        now = time.time()
        state = "succeeded" if code == 0 else "failed"
        self.write(
            "UPDATE runs SET state=?, code=?, ended=? WHERE id=?", (state, code, now, run_id)
        )
        self.write("INSERT INTO events(run, state, at) VALUES (?, ?, ?)", (run_id, state, now))
        self.commit_soon()
        self.tick()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if head.startswith(b"POST"):
                body = json.loads(await reader.readexactly(length))
                answer = {"id": self.submit(body["command"], body["env"])}
            else:
                active = self.db.execute(
                    "SELECT count(*) FROM runs WHERE state IN ('queued', 'running')"
                ).fetchone()[0]
                answer = {"active": active}
            data = json.dumps(answer).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(data), data))

    def serve(self) -> None:
        server = self.loop.run_until_complete(
            asyncio.start_unix_server(self.handle, self.home / "sock")
        )
        (self.home / "ready").touch()
        self.loop.run_until_complete(server.serve_forever())


class Caller:
    """A client of the skeleton on one connection."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")

    def call(self, method: bytes, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        self.sock.sendall(
            b"%s / HTTP/1.1\r\ncontent-length: %d\r\n\r\n%s" % (method, len(data), data)
        )
        length = 0
        while (line := self.reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        answer: dict[str, Any] = json.loads(self.reader.read(length))
        return answer

    def drain(self) -> None:
        while self.call(b"GET")["active"]:
            time.sleep(0.0005)


def skeleton_figures(home: Path) -> tuple[float, float]:
    """The skeleton's submit-to-start latency (ms) and its rate for no-op jobs."""
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(home)])
    try:
        while not (home / "ready").exists():
            time.sleep(0.01)
        caller = Caller(home / "sock")
        env = dict(os.environ)
        latencies = []
        for index in range(LATENCY_SAMPLES + 5):
            start = time.time()
            run_id = caller.call(b"POST", {"command": STAMP, "env": env})["id"]
            caller.drain()
            started = float((home / "runs" / str(run_id) / "output.log").read_text())
            if index >= 5:  # the first are warm-up
                latencies.append(started - start)
        begin = time.monotonic()
        for _ in range(THROUGHPUT_JOBS):
            caller.call(b"POST", {"command": ["true"], "env": env})
        caller.drain()
        rate = THROUGHPUT_JOBS / (time.monotonic() - begin)
    finally:
        server.kill()
        server.wait()
    return statistics.median(latencies) * 1000, rate


def evd_figures(home: Path) -> tuple[float, float]:
    """evd's figures, measured as ``bench/run.py`` does."""
    env = {**os.environ, "EVD_HOME": str(home)}
    evd = [sys.executable, "-m", "evd"]
    subprocess.run([*evd, "up", "--parallel", "2"], env=env, check=True, capture_output=True)
    try:
        client = Client(StateDir(home))
        for _ in range(5):  # warm up, as for the skeleton
            evd_latency(client)
        latency = statistics.median(evd_latency(client) for _ in range(LATENCY_SAMPLES)) * 1000
        return latency, evd_throughput(client, THROUGHPUT_JOBS)
    finally:
        subprocess.run([*evd, "down"], env=env, check=False, capture_output=True)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        Skeleton(Path(sys.argv[2])).serve()
        return
    with tempfile.TemporaryDirectory(prefix="evd-floor-") as tmp:
        floor_ms, floor_rate = skeleton_figures(Path(tmp) / "skeleton")
        evd_ms, evd_rate = evd_figures(Path(tmp) / "evd")
    tsp = task_spooler(THROUGHPUT_JOBS)
    print(f"the design's floor: a skeleton of evd's guarantees ({THROUGHPUT_JOBS} no-op jobs)")
    print(f"  skeleton {floor_ms:6.2f} ms to start  {floor_rate:5.0f} jobs/s")
    print(
        f"  evd      {evd_ms:6.2f} ms to start  {evd_rate:5.0f} jobs/s"
        f"   ({evd_ms / floor_ms:.2f}x the skeleton's latency,"
        f" {evd_rate / floor_rate:.2f}x its rate)"
    )
    if tsp is None:
        print("  task-spooler: not installed (apt install task-spooler to compare)")
        return
    print(
        f"  tsp      {tsp.latency_ms:6.2f} ms to start  {tsp.rate:5.0f} jobs/s"
        f"   (the skeleton: {floor_ms / tsp.latency_ms:.2f}x its latency,"
        f" {floor_rate / tsp.rate:.2f}x its rate)"
    )


if __name__ == "__main__":
    main()
