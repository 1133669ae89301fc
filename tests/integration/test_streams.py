"""The live parts: following a log, and the events stream."""

from __future__ import annotations

import threading
import time
from typing import Any

from evd.models import SubmitRequest
from tests.conftest import Evd


def test_follow_sees_output_while_the_job_runs(evd: Evd) -> None:
    script = "echo first; sleep 0.5; echo second"
    with evd.client() as client:
        run = client.submit(SubmitRequest(command=["sh", "-c", script], cwd="/"))
        arrivals: list[tuple[float, bytes]] = []
        for chunk in client.logs(run.id, follow=True):
            arrivals.append((time.monotonic(), chunk))
    text = b"".join(chunk for _, chunk in arrivals)
    assert text == b"first\nsecond\n"
    assert len(arrivals) >= 2  # "first" arrived before the job ended
    assert arrivals[-1][0] - arrivals[0][0] > 0.3


def test_logs_from_an_offset(evd: Evd) -> None:
    with evd.client() as client:
        run = client.wait(client.submit(SubmitRequest(command=["echo", "abcdef"], cwd="/")).id)
        assert b"".join(client.logs(run.id, offset=3)) == b"def\n"


def collect_events(
    evd: Evd, count: int, after: int | None, out: list[dict[str, Any]]
) -> threading.Thread:
    def reader() -> None:
        for event in evd.client().events(after=after):
            out.append(event)
            if len(out) >= count:
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread


def test_events_stream_every_state_change(evd: Evd) -> None:
    events: list[dict[str, Any]] = []
    # From the newest event on: whenever the stream connects, it misses nothing after it.
    thread = collect_events(evd, 3, evd.client().health().last_event or 0, events)
    with evd.client() as client:
        run = client.submit(SubmitRequest(command=["sh", "-c", "exit 2"], cwd="/"))
        client.wait(run.id)
    thread.join(timeout=10)
    assert [(e["run_id"], e["state"]) for e in events] == [
        (run.id, "queued"),
        (run.id, "running"),
        (run.id, "failed"),
    ]
    assert events[-1]["reason"] == "exited with code 2"
    assert events[-1]["run"]["exit_code"] == 2
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


def test_events_resume_after_an_id(evd: Evd) -> None:
    with evd.client() as client:
        first = client.wait(client.submit(SubmitRequest(command=["true"], cwd="/")).id)
        second = client.wait(client.submit(SubmitRequest(command=["true"], cwd="/")).id)
    replayed: list[dict[str, Any]] = []
    thread = collect_events(evd, 6, 0, replayed)
    thread.join(timeout=10)
    assert [(e["run_id"], e["state"]) for e in replayed] == [
        (first.id, "queued"),
        (first.id, "running"),
        (first.id, "succeeded"),
        (second.id, "queued"),
        (second.id, "running"),
        (second.id, "succeeded"),
    ]
    tail: list[dict[str, Any]] = []
    collect_events(evd, 1, replayed[3]["id"], tail).join(timeout=10)
    assert tail[0]["id"] == replayed[4]["id"]
