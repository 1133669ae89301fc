"""The disk room: queued runs counted in start order against free space less running claims."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from evd.daemon.core import diskroom
from evd.daemon.core.diskroom import DiskRoom
from evd.daemon.monitor.disk import DiskMeter, folder_size
from evd.resources.request import Request
from evd.scheduler import QueuedRun, QueueIndex

MIB = 1024 * 1024


@dataclass
class Live:
    disk: int


@dataclass
class FakeDispatch:
    queue: QueueIndex = field(default_factory=QueueIndex)
    running: dict[int, Live] = field(default_factory=dict)
    loop: Any = None
    woken: int = 0

    def wake(self) -> None:
        self.woken += 1


def fs(free: int, size: int = 1000 * MIB) -> Any:
    stats = os.statvfs_result((4096, 1, size, free, free, 0, 0, 0, 0, 255))
    return lambda _folder: stats


def room(dispatch: FakeDispatch, free: int, used: dict[int, int] | None = None) -> DiskRoom:
    return DiskRoom(
        cast(Any, dispatch), Path("/runs"), lambda run_id: (used or {}).get(run_id, 0), fs(free)
    )


def queued(run_id: int, disk: int, priority: int = 0) -> QueuedRun:
    return QueuedRun(id=run_id, priority=priority, request=Request(disk=disk))


def test_runs_count_in_start_order_and_the_rest_wait_with_reasons() -> None:
    async def scenario() -> None:
        dispatch = FakeDispatch(loop=asyncio.get_running_loop())
        for run in (queued(1, 60 * MIB), queued(2, 50 * MIB), queued(3, 30 * MIB, priority=5)):
            dispatch.queue.add(run)
        dispatch.queue.add(QueuedRun(id=4))  # asks for none: never counted
        disk = room(dispatch, free=100 * MIB)
        assert disk.blocked() == {2}  # 3 (priority) then 1 fit; 2 would overfill
        assert disk.reasons[2] == (
            "needs 50.0 MiB of disk for its folder, 10.0 MiB free on /runs (disk)"
        )
        disk.stop()

    asyncio.run(scenario())


def test_running_runs_keep_what_they_may_still_write() -> None:
    async def scenario() -> None:
        dispatch = FakeDispatch(loop=asyncio.get_running_loop())
        dispatch.running = {7: Live(disk=80 * MIB), 8: Live(disk=0)}
        dispatch.queue.add(queued(1, 40 * MIB))
        disk = room(dispatch, free=100 * MIB, used={7: 50 * MIB})
        assert disk.blocked() == set()  # 100 free, 30 kept for run 7
        disk = room(dispatch, free=100 * MIB, used={7: 10 * MIB})
        assert disk.blocked() == {1}  # 70 kept
        assert "70.0 MiB kept for running runs" in disk.reasons[1]
        dispatch.queue.remove(1)
        assert disk.blocked() == set() and disk.reasons == {}
        disk.stop()

    asyncio.run(scenario())


def test_a_waiting_run_is_counted_again_without_an_event(monkeypatch: Any) -> None:
    monkeypatch.setattr(diskroom, "RECHECK", 0.01)

    async def scenario() -> None:
        dispatch = FakeDispatch(loop=asyncio.get_running_loop())
        dispatch.queue.add(queued(1, 200 * MIB))
        disk = room(dispatch, free=100 * MIB)
        disk.blocked()
        disk.blocked()  # one timer, not two
        for _ in range(1000):
            if dispatch.woken:
                break
            await asyncio.sleep(0.01)
        assert dispatch.woken == 1
        assert disk.never_fits(2000 * MIB) is not None and disk.never_fits(200 * MIB) is None
        disk.stop()

    asyncio.run(scenario())


def test_a_folder_is_measured_by_its_blocks_each_link_once(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    os.link(tmp_path / "a", tmp_path / "b")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c").write_bytes(b"y" * 50_000)
    (tmp_path / "elsewhere").symlink_to("/usr")  # not followed
    size = folder_size(tmp_path)
    assert 150_000 <= size < 200_000
    assert folder_size(tmp_path / "gone") == 0
    now = [0.0]
    meter = DiskMeter(every=5.0, clock=lambda: now[0])
    assert meter.measure({1: tmp_path}) == {1: size}
    assert meter.measure({1: tmp_path}) == {}  # not due yet
    now[0] = 5.0
    assert meter.measure({1: tmp_path}) == {1: size}
