"""A daemon-shaped backend with fixed runs, so the app's screens do not depend on a clock.

It answers like the daemon does (newest first, ``before`` pages, ``text``
matches a name or an id) and records what the app asked it to do. The events
stream is a queue the test feeds: a dict is an event, an exception a broken
stream, ``None`` the daemon stopping.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from evd.errors import Conflict, DaemonNotRunning
from evd.models import (
    EnvInfo,
    Health,
    Run,
    RunEvent,
    RunState,
    ScheduleInfo,
    SubmitRequest,
    WatchInfo,
    iso,
    parse_iso,
)
from evd.models.timeline import Timeline, TimelineRow, TimelineSpan

NOW = 1_790_000_000.0  # the frozen "now" of every test (2026-09-21)
HOME = "/home/ada/.local/share/evd"


def at(seconds_before_now: float) -> str:
    """An API time so many seconds before ``NOW``."""
    text = iso(NOW - seconds_before_now)
    assert text is not None
    return text


def make_run(
    run_id: int,
    name: str,
    state: RunState,
    *,
    started: float | None = None,
    ended: float | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    progress: float | None = None,
    gpus: list[int] | None = None,
    command: list[str] | None = None,
    resources: dict[str, Any] | None = None,
) -> Run:
    """A run as the API would show it; times are seconds before ``NOW``."""
    return Run(
        id=run_id,
        name=name,
        state=state,
        reason=reason,
        exit_code=exit_code,
        attempts=0 if started is None else 1,
        gpus=gpus or [],
        progress=progress,
        env=None,
        created_at=at((started or 0) + 5),
        started_at=None if started is None else at(started),
        ended_at=None if ended is None else at(ended),
        command=command or ["python", f"{name}.py"],
        cwd="/home/ada/jobs",
        priority=0,
        timeout=None,
        failed_by=None,
        pid=None,
        log_path=f"{HOME}/runs/{run_id}/output.log",
        resources=resources or {"cpus": 1.0},
    )


def sample_runs() -> list[Run]:
    """A small history with one run in each interesting state."""
    return [
        make_run(1, "prepare", RunState.SUCCEEDED, started=3600, ended=3000, exit_code=0,
                 progress=1.0),
        make_run(2, "train", RunState.FAILED, started=2900, ended=2000, exit_code=2,
                 reason="exited with code 2"),
        make_run(3, "embed", RunState.RUNNING, started=125, progress=0.42, gpus=[0],
                 command=["python", "-m", "evd.sdk.launch", "/home/ada/jobs/embed.py", "-",
                          "--", "--shard", "3"],
                 resources={"cpus": 2.0, "gpus": 1.0}),
        dataclasses.replace(
            make_run(4, "eval", RunState.QUEUED,
                     reason="waiting for 1 GPU: GPU 0 is held by run 3 (embed); starts in"
                     " ~12m00s on GPU 0, when run 3 ends (estimated)",
                     resources={"cpus": 1.0, "gpus": 1.0}),
            expected_start=at(-12 * 60), estimate=300.0,
        ),
        make_run(5, "report", RunState.CANCELLED, started=900, ended=800, exit_code=-15,
                 reason="cancelled by the user"),
    ]  # fmt: skip


class FakeBackend:
    """The daemon's API over fixed data; thread-safe like the real client per thread."""

    def __init__(self, runs: Iterable[Run] | None = None) -> None:
        self.runs: dict[int, Run] = {run.id: run for run in (runs or sample_runs())}
        self.stream: queue.Queue[dict[str, Any] | BaseException | None] = queue.Queue()
        self.down = False
        self.calls: list[tuple[str, Any]] = []
        self.list_calls: list[dict[str, Any]] = []
        self.log_text: dict[int, str] = {
            3: "".join(f"step {i} loss {1 / (i + 1):.3f}\n" for i in range(30)) + "done\n"
        }
        self.next_event = 100
        self._lock = threading.Lock()

    # -- what tests do ---------------------------------------------------------------

    def change(self, run: Run) -> None:
        """The daemon changes a run: stored, then sent on the events stream."""
        with self._lock:
            self.runs[run.id] = run
            self.next_event += 1
            event = {"id": self.next_event, "run_id": run.id, "state": run.state.value,
                     "reason": run.reason, "at": at(0), "run": run.to_dict()}  # fmt: skip
        self.stream.put(event)

    def stop(self) -> None:
        """The daemon goes away: the stream ends and nothing answers until ``start``."""
        self.down = True
        self.stream.put(None)

    def start(self) -> None:
        """The daemon is back."""
        self.down = False

    # -- the API ---------------------------------------------------------------------

    def _check(self) -> None:
        if self.down:
            raise DaemonNotRunning(f"evd is not running (nothing answers at {HOME}/evd.sock)")

    def health(self, timeout: float | None = None) -> Health:
        self._check()
        return Health(version="0.1.0", pid=4242, home=HOME, started_at=at(7200), parallel=None,
                      accepting=True, last_event=self.next_event)  # fmt: skip

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
        self._check()
        wanted = set(states) if states is not None else None
        self.list_calls.append({"states": wanted, "before": before, "text": text})
        if labels:
            self.list_calls[-1]["labels"] = labels
        with self._lock:
            runs = sorted(self.runs.values(), key=lambda run: -run.id)
        picked = [
            run
            for run in runs
            if (wanted is None or run.state in wanted)
            and (before is None or run.id < before)
            and (not text or text.lower() in run.name.lower() or text == str(run.id))
            and all(run.labels.get(key) == value for key, value in (labels or {}).items())
        ]
        return picked[:limit] if limit is not None else picked

    def get_run(self, run_id: int) -> Run:
        self._check()
        run = replace(self.runs[run_id])
        run.events = [RunEvent(1, run_id, RunState.QUEUED, None, run.created_at)]
        if run.started_at:
            run.events.append(RunEvent(2, run_id, RunState.RUNNING, None, run.started_at))
        return run

    def cancel(self, run_id: int) -> Run:
        self._check()
        self.calls.append(("cancel", run_id))
        before = self.runs[run_id]
        run = replace(before, state=RunState.CANCELLED, reason="cancelled by the user")
        self.change(run)
        # As evd answers: a running run is being stopped, so the answer still says
        # running, and the stream (already told, here) says when it has ended.
        return before if before.state is RunState.RUNNING else run

    def rerun(self, run_id: int, args: list[str] | None = None) -> Run:
        self._check()
        self.calls.append(("rerun", (run_id, args)))
        new = replace(self.runs[run_id], id=max(self.runs) + 1, state=RunState.QUEUED,
                      started_at=None, ended_at=None, exit_code=None, reason=None)  # fmt: skip
        self.change(new)
        return new

    def submit(self, request: SubmitRequest) -> Run:
        self._check()
        self.calls.append(("submit", request))
        assert request.file is not None
        name = request.file.rsplit("/", 1)[-1]
        new = make_run(max(self.runs) + 1, name, RunState.QUEUED)
        self.change(new)
        return new

    def logs(
        self, run_id: int, follow: bool = False, offset: int = 0, build: bool = False
    ) -> Iterator[bytes]:
        self._check()
        text = self.log_text.get(run_id, f"output of run {run_id}\n").encode()
        yield text[:7]
        yield text[7:]

    def events(self, after: int | None = None, progress: bool = False) -> Iterator[dict[str, Any]]:
        self._check()
        self.calls.append(("events", after))
        while True:
            item = self.stream.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def metrics(self, run_id: int) -> dict[str, Any]:
        self._check()
        series = {
            "t": [float(i) for i in range(20)],
            "cpu_percent": [float(50 + 40 * ((i % 5) / 4)) for i in range(20)],
            "rss": [float(2**30 + i * 2**26) for i in range(20)],
            "gpu_memory": [{"0": 2**33 + i * 2**28} for i in range(20)],
        }
        return {"run_id": run_id, "peaks": {"cpu_percent": 90.0, "rss": 2**31}, "series": series}

    def result(self, run_id: int) -> Any:
        self._check()
        if run_id != 1:
            raise Conflict(f"run {run_id} has no result")
        return {"rows": 1000}

    def gpus(self) -> dict[str, Any]:
        self._check()
        gpu = {"index": 0, "uuid": "GPU-0", "name": "NVIDIA H100 80GB HBM3",
               "memory_total": 80 * 2**30, "memory_used": 20 * 2**30, "utilization": 63,
               "processes": [], "problem": None, "links": [], "memory_external": 0,
               "memory_claimed": 0,
               "runs": [{"id": 3, "name": "embed", "share": 1.0, "gpu_memory": 0}]}  # fmt: skip
        return {"cpus": 16, "memory": 128 * 2**30, "source": "fake", "note": None,
                "gpus": [gpu], "cpu_percent": 37.5, "memory_available": 96 * 2**30,
                "cpus_free": 13.0, "cpus_usable": 16.0,
                "memory_unreserved": 120 * 2**30,
                "workers": [{"id": 2, "name": "warm-model", "state": "idle", "serving": None,
                             "runs": 14, "cpus": 1.0, "gpus": []}]}  # fmt: skip

    def queue(self, limit: int = 10) -> tuple[int, list[Run]]:
        self._check()
        queued = sorted((r for r in self.runs.values() if r.state is RunState.QUEUED),
                        key=lambda run: (-run.priority, run.id))  # fmt: skip
        return len(queued), queued[:limit]

    def timeline(self, since: float = 6 * 3600) -> Timeline:
        """The fixed runs as the daemon would lay them on its timeline."""
        self._check()
        gpu, cpu = TimelineRow("GPU 0", 0), TimelineRow("CPU only", None)
        for run in sorted(self.runs.values(), key=lambda run: run.id):
            if run.started_at is not None:
                kind = "running" if run.ended_at is None else "ran"
                start, end = run.started_at, run.ended_at
            elif run.expected_start is not None:
                kind, start = "planned", run.expected_start
                end = iso(parse_iso(start) + (run.estimate or 0))
            else:
                continue
            row = gpu if run.gpus or (run.resources or {}).get("gpus") else cpu
            row.spans.append(TimelineSpan(run.id, run.name, kind, run.state.value, start, end))
        return Timeline(at(0), at(since), at(-since / 4), [gpu, cpu])

    def list_envs(self) -> list[EnvInfo]:
        self._check()
        return [EnvInfo(hash="3f2a9c1b7d4e5f60", python="3.11", requirements=["daft==0.7.26"],
                        size=412 * 2**20, build_seconds=14.2, built_at=at(86400),
                        last_used_at=at(125), active_runs=1, runs=12,
                        path=f"{HOME}/envs/3f2a9c1b7d4e5f60")]  # fmt: skip

    def list_watches(self) -> list[WatchInfo]:
        self._check()
        return [WatchInfo(id=1, dir="/home/ada/inbox", pattern="*.py", options={"gpus": 1},
                          created_at=at(86400), status="watching", note=None, picked_up=7,
                          running=[3])]  # fmt: skip

    def list_schedules(self) -> list[ScheduleInfo]:
        self._check()
        return [ScheduleInfo(id=1, spec="0 2 * * *", what="nightly.py", overlap="skip",
                             misfire_grace=3600.0, paused=False, created_at=at(86400),
                             next_fire_at=at(-3 * 3600), last_fire_at=at(21 * 3600),
                             last_run_id=1, last_run_state="succeeded", fires=9,
                             pending=False, note=None)]  # fmt: skip
