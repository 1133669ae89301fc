"""The app against a real daemon: live changes, the log, cancel, submit, and a restart."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Log, Static

from evd.models import RunState, SubmitRequest
from tests.conftest import Evd
from tests.tui.test_pilot import until
from tui.app import EvdApp
from tui.backend import daemon_backend
from tui.views.detail import RunDetail
from tui.views.submit import SubmitScreen


def drive(app: EvdApp, scenario: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await until(pilot, lambda: app.connected, timeout=10)
            await scenario(pilot)

    asyncio.run(main())


def state_shown(app: EvdApp, run_id: int) -> str | None:
    run = app.runs_view.runs.get(run_id)
    return None if run is None else run.state.value


def select(app: EvdApp, run_id: int) -> bool:
    """Put the cursor on ``run_id``'s row; whether it is there now (rows move as runs change)."""
    table = app.runs_view.table
    table.move_cursor(row=table.get_row_index(str(run_id)))
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return key == str(run_id)


def command(*words: str) -> SubmitRequest:
    return SubmitRequest(command=list(words), cwd="/")


def test_watch_inspect_cancel_and_submit_on_a_real_daemon(
    evd: Evd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = evd.client()
    app = EvdApp(daemon_backend(evd.state))
    job = tmp_path / "hello_job.py"
    job.write_text("import sys\nprint('hello from the form', sys.argv[1:])\n")
    monkeypatch.chdir(tmp_path)

    async def scenario(pilot: Pilot[None]) -> None:
        done = client.submit(command("sh", "-c", "echo hello-from-evd; sleep 0.2"))
        await until(pilot, lambda: state_shown(app, done.id) == "succeeded", timeout=15)

        select(app, done.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetail))
        log = app.screen.query_one(Log)
        await until(pilot, lambda: "hello-from-evd" in log.lines, timeout=10)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunDetail))

        long = client.submit(command("sleep", "60"))
        await until(pilot, lambda: state_shown(app, long.id) == "running", timeout=15)
        # A busy machine may re-sort the table between the move and the key: until it sticks.
        await until(pilot, lambda: select(app, long.id))
        await pilot.press("c")
        await until(pilot, lambda: state_shown(app, long.id) == "cancelled", timeout=15)
        assert client.get_run(long.id).state is RunState.CANCELLED

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        app.screen.query_one("#file", Input).value = "hello_job.py"
        app.screen.query_one("#args", Input).value = "a b"
        app.screen.query_one("#args", Input).focus()
        await pilot.press("enter")
        await until(
            pilot, lambda: any(r.name == "hello_job.py" for r in app.runs_view.runs.values())
        )
        submitted = next(r for r in app.runs_view.runs.values() if r.name == "hello_job.py")
        await until(pilot, lambda: state_shown(app, submitted.id) == "succeeded", timeout=90)
        assert b"hello from the form ['a', 'b']" in b"".join(client.logs(submitted.id))

    try:
        drive(app, scenario)
    finally:
        client.close()


def test_the_app_follows_the_daemon_across_a_restart(evd: Evd) -> None:
    app = EvdApp(daemon_backend(evd.state))

    async def scenario(pilot: Pilot[None]) -> None:
        connection = app.query_one("#connection", Static)
        assert "pid" in str(connection.render())
        # `evd down` in a thread: the app's loop must keep running meanwhile.
        await asyncio.to_thread(evd.cli, "down", check=True)
        await until(pilot, lambda: not app.connected, timeout=10)
        assert "not answering" in str(connection.render())
        await asyncio.to_thread(evd.up)
        await until(pilot, lambda: app.connected, timeout=10)
        client = evd.client()
        try:
            run = await asyncio.to_thread(client.submit, command(sys.executable, "-c", "pass"))
        finally:
            client.close()
        await until(pilot, lambda: state_shown(app, run.id) == "succeeded", timeout=15)

    drive(app, scenario)
