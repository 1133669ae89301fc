"""A screenshot of every view, compared with the accepted SVG in ``__snapshots__``.

Update after a deliberate change with ``pytest tests/tui --snapshot-update`` and
look at the new SVGs before committing them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Log, Static

from tests.tui.fakes import FakeBackend
from tests.tui.test_pilot import until
from tui.app import EvdApp
from tui.views.detail import RunDetail

SIZE = (140, 40)
STEADY = 3  # checks in a row with the same screen before it counts as settled
Compare = Callable[..., bool]
Setup = Callable[[Pilot[None]], Awaitable[None]]


def settled(setup: Setup) -> Setup:
    """``setup``, then time for the app to lay out what it just got.

    A table sizes its columns, an input its width, a footer its keys when the
    app is next idle, and a busy machine may take several idle turns for that:
    so wait until the screen has stayed the same for ``STEADY`` checks in a row,
    each after the app has processed every pending event and gone idle.
    """

    async def run(pilot: Pilot[None]) -> None:
        await setup(pilot)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15.0
        last, same = None, 0
        while same < STEADY:
            assert loop.time() < deadline, "the screen did not settle"
            await pilot.wait_for_scheduled_animations()
            await pilot.pause(0.1)
            shot = pilot.app.export_screenshot()
            same = same + 1 if shot == last else 0
            last = shot

    return run


async def loaded(pilot: Pilot[None]) -> None:
    """The runs are on screen."""
    app = pilot.app
    assert isinstance(app, EvdApp)
    await until(pilot, lambda: app.runs_view.table.row_count == 5)


def test_runs_view(app: EvdApp, snap_compare: Compare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=settled(loaded))


def test_runs_view_light(fake: FakeBackend, frozen_time: float, snap_compare: Compare) -> None:
    app = EvdApp(lambda: fake, clock=lambda: frozen_time, theme="textual-light")
    assert snap_compare(app, terminal_size=SIZE, run_before=settled(loaded))


def test_runs_view_filtered(app: EvdApp, snap_compare: Compare) -> None:
    async def filtered(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("slash", *"e")
        await until(pilot, lambda: app.runs_view.table.row_count == 4)

    assert snap_compare(app, terminal_size=SIZE, run_before=settled(filtered))


def test_run_detail(app: EvdApp, snap_compare: Compare) -> None:
    async def opened(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetail))
        screen = app.screen
        assert isinstance(screen, RunDetail)
        await until(pilot, lambda: "done" in screen.query_one(Log).lines)
        await until(pilot, lambda: screen.run.events is not None and bool(screen.series))
        # Everything the page fetches has arrived: the peaks (the metrics fetch) and the
        # end of the log (its follower's last chunk), whatever order a busy machine gave them.
        await until(pilot, lambda: bool(screen.run.metrics))
        await until(pilot, lambda: "── end of log ──" in screen.query_one(Log).lines)
        await pilot.press("slash", *"loss 0.05", "enter")

    assert snap_compare(app, terminal_size=SIZE, run_before=settled(opened))


def test_resources_view(app: EvdApp, snap_compare: Compare) -> None:
    async def shown(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("2")
        await until(pilot, lambda: app.query_one("ResourcesView").machine is not None)  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=SIZE, run_before=settled(shown))


@pytest.mark.parametrize(("key", "table"), [("3", "envs"), ("4", "watches"), ("5", "schedules")])
def test_listing_views(app: EvdApp, snap_compare: Compare, key: str, table: str) -> None:
    async def shown(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press(key)
        rows = app.query_one(f"#{table}-table DataTable", DataTable)
        await until(pilot, lambda: rows.row_count == 1)

    assert snap_compare(app, terminal_size=SIZE, run_before=settled(shown))


def test_submit_form(
    app: EvdApp, snap_compare: Compare, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The form shows the folder as a shell would: under a home that is this test's own.
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "evd-tui-snapshot"
    (folder / "pipelines").mkdir(parents=True)
    (folder / "train.py").write_text("print('train')\n")
    (folder / "notes.txt").write_text("not a job\n")
    monkeypatch.chdir(folder)

    async def opened(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("s")
        await until(pilot, lambda: len(app.screen.query_one("#tree").root.children) == 2)  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=SIZE, run_before=settled(opened))


def test_rerun_prompt(app: EvdApp, snap_compare: Compare) -> None:
    async def opened(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("down", "down", "R")

    assert snap_compare(app, terminal_size=SIZE, run_before=settled(opened))


def test_disconnected(app: EvdApp, fake: FakeBackend, snap_compare: Compare) -> None:
    async def lost(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        fake.stop()
        # First "evd stopped" (the stream ended), then the retry's answer, which stays.
        line = app.query_one("#connection", Static)
        await until(pilot, lambda: "nothing answers" in str(line.render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=settled(lost))
