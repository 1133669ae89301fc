"""Every action of the app, driven by a pilot against the fake daemon."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Log, Select, Sparkline, Static

from evd.errors import DaemonNotRunning
from evd.models import RunState
from tests.tui.fakes import FakeBackend, make_run
from tui.app import EvdApp
from tui.messages import RunChanged
from tui.views.detail import RunDetail
from tui.views.prompt import ArgsPrompt
from tui.views.runs import PAGE
from tui.views.submit import SubmitScreen

SIZE = (140, 40)


def drive(app: EvdApp, scenario: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    """Run ``scenario`` against the app in a headless terminal."""

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.runs_view.table.row_count > 0 or app.connected)
            await scenario(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the app work until ``condition`` holds (workers and the stream run in threads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the app did not get there in time")
        await pilot.pause(0.02)


def rows(app: EvdApp) -> list[list[str]]:
    """The runs table as text, top to bottom."""
    table = app.runs_view.table
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(app: EvdApp, selector: str) -> str:
    """The text a Static shows."""
    return str(app.screen.query_one(selector, Static).render())


def cursor_run(app: EvdApp) -> int | None:
    """The id of the run under the cursor."""
    selected = app.runs_view.selected
    return None if selected is None else selected.id


def test_runs_view_lists_newest_first_with_states_and_waiting_reasons(app: EvdApp) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        table = rows(app)
        assert [row[0] for row in table] == ["5", "4", "3", "2", "1"]
        assert [row[2] for row in table] == [
            "cancelled", "queued", "running", "failed", "succeeded",
        ]  # fmt: skip
        assert "GPU 0 is held by run 3" in table[1][8]  # the queued run says why it waits
        assert table[1][3] == "in ~12m"  # its forecast start, on the frozen clock
        assert table[2][4].endswith("42%") and table[2][5] == "0"  # progress, GPU held
        assert table[2][6] == "2m05s"  # runtime of the running run, on the frozen clock
        assert table[3][7] == "2"  # exit code
        assert "evd 0.1.0 · pid 4242" in text_of(app, "#connection")

    drive(app, scenario)


def test_live_changes_update_rows_and_keep_the_cursor_on_its_run(
    app: EvdApp, fake: FakeBackend
) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("down", "down")  # onto run 3
        assert cursor_run(app) == 3
        fake.change(replace(fake.runs[3], state=RunState.SUCCEEDED, exit_code=0, progress=1.0,
                            ended_at=fake.runs[3].started_at))  # fmt: skip
        await until(pilot, lambda: rows(app)[2][2] == "succeeded")
        fake.change(make_run(6, "fresh", RunState.QUEUED, reason="waiting for a free slot"))
        await until(pilot, lambda: app.runs_view.table.row_count == 6)
        assert rows(app)[0][:3] == ["6", "fresh", "queued"]  # newest on top
        assert cursor_run(app) == 3  # the cursor stayed on the run it was on
        assert fake.calls[0] == ("events", 100)  # the stream resumes from health's last event

    drive(app, scenario)


def test_progress_reports_move_the_bar_and_say_the_operator(app: EvdApp, fake: FakeBackend) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        fake.stream.put({"kind": "progress", "run_id": 3, "progress": 0.75, "source": "daft",
                         "query": 1, "operator": "Filter", "rows": 66667})  # fmt: skip
        await until(pilot, lambda: rows(app)[2][4].endswith("75%"))
        assert rows(app)[2][8] == "query 1: Filter, 66,667 rows"

    drive(app, scenario)


def test_text_and_state_filters_ask_the_daemon_and_follow_live_changes(
    app: EvdApp, fake: FakeBackend
) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"tra")
        await until(pilot, lambda: [row[1] for row in rows(app)] == ["train"])
        assert fake.list_calls[-1]["text"] == "tra"
        # The page that came back left the focus in the box: typing goes on there.
        assert isinstance(app.focused, Input)
        await pilot.press("i")
        await until(pilot, lambda: fake.list_calls[-1]["text"] == "trai")
        await pilot.press("backspace")
        await until(pilot, lambda: [row[1] for row in rows(app)] == ["train"])
        # A run that stops matching leaves the view; one that starts matching joins it.
        fake.change(replace(fake.runs[2], name="old"))
        await until(pilot, lambda: app.runs_view.table.row_count == 0)
        fake.change(make_run(7, "train-2", RunState.QUEUED))
        await until(pilot, lambda: [row[1] for row in rows(app)] == ["train-2"])

        app.query_one("#filter", Input).value = ""
        app.query_one("#state", Select).value = "active"
        await until(pilot, lambda: {row[2] for row in rows(app)} == {"queued", "running"})
        assert fake.list_calls[-1]["states"] == {
            RunState.QUEUED, RunState.BUILDING, RunState.STAGING, RunState.STARTING,
            RunState.RUNNING,
        }  # fmt: skip

    drive(app, scenario)


def test_key_value_words_in_the_filter_are_labels(app: EvdApp, fake: FakeBackend) -> None:
    labelled = replace(make_run(8, "tagged", RunState.QUEUED), labels={"team": "vision"})
    fake.change(labelled)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 6)
        app.query_one("#filter", Input).value = "team=vision tag"
        await until(pilot, lambda: [row[1] for row in rows(app)] == ["tagged"])
        assert fake.list_calls[-1]["labels"] == {"team": "vision"}
        assert fake.list_calls[-1]["text"] == "tag"
        # A run that gains the label joins the view live.
        fake.change(replace(fake.runs[2], name="tagged-too", labels={"team": "vision"}))
        await until(pilot, lambda: [row[1] for row in rows(app)] == ["tagged", "tagged-too"])

    drive(app, scenario)


def test_a_long_history_loads_a_page_at_a_time_as_the_cursor_goes_down() -> None:
    fake = FakeBackend([make_run(i, f"job-{i}", RunState.SUCCEEDED, started=10, ended=5)
                        for i in range(1, 1001)])  # fmt: skip
    app = EvdApp(lambda: fake, clock=lambda: 0.0)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == PAGE)
        assert len(fake.list_calls) == 1  # only the first page at start
        await pilot.press("end")
        await until(pilot, lambda: app.runs_view.table.row_count == 2 * PAGE)
        assert fake.list_calls[1]["before"] == 1000 - PAGE + 1
        for _ in range(10):
            await pilot.press("end")
            await pilot.pause(0.05)
        await until(pilot, lambda: app.runs_view.exhausted)
        assert app.runs_view.table.row_count == 1000
        assert rows(app)[-1][0] == "1"
        assert "1,000 runs shown" in text_of(app, "#shown")

    try:
        drive(app, scenario)
    finally:
        fake.stop()


def test_run_page_shows_log_metrics_settings_and_searches_the_log(app: EvdApp) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetail))
        screen = app.screen
        assert isinstance(screen, RunDetail)
        log = screen.query_one(Log)
        await until(pilot, lambda: "done" in log.lines)
        assert log.lines[0] == "step 0 loss 1.000"  # split across two chunks, joined again
        await until(pilot, lambda: screen.run.events is not None)
        summary = text_of(app, "#summary")
        assert "run 3" in summary and "embed" in summary and "running" in summary
        info = text_of(app, "#info")
        assert "embed.py --shard 3" in info and "1 GPU, 2 CPUs" in info
        assert screen.query_one("#cpu-spark", Sparkline).data[:2] == [50.0, 60.0]
        assert "GPU memory  12.8 GiB" in text_of(app, "#gpu-label")

        await pilot.press("slash", *"loss 0.0", "enter")
        assert "match 1 of" in text_of(app, "#found")
        first = screen.search.current if screen.search else None
        await pilot.press("n")
        assert screen.search is not None and screen.search.current == (first or 0) + 1
        await pilot.press("slash", "escape")  # Escape in the search box closes only the box
        assert app.screen is screen and not screen.query_one("#search").has_class("shown")
        await pilot.press("escape")
        assert not isinstance(app.screen, RunDetail)  # back to the runs

    drive(app, scenario)


def test_result_of_a_finished_job_is_on_its_page(app: EvdApp, fake: FakeBackend) -> None:
    fake.runs[1].kind = "job"

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("end", "enter")
        await until(pilot, lambda: 'result     {"rows": 1000}' in text_of(app, "#info"))

    drive(app, scenario)


def test_cancel_asks_the_daemon_for_active_runs_only(app: EvdApp, fake: FakeBackend) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("down", "c")  # run 4, queued
        await until(pilot, lambda: ("cancel", 4) in fake.calls)
        await until(pilot, lambda: rows(app)[1][2] == "cancelled")
        await pilot.press("down", "down", "c")  # run 2 has ended: nothing to cancel
        await pilot.pause(0.1)
        assert [call for call in fake.calls if call[0] == "cancel"] == [("cancel", 4)]
        assert any("has already ended" in str(n.message) for n in app._notifications)

    drive(app, scenario)


def test_an_answer_older_than_the_stream_does_not_undo_what_it_said(
    app: EvdApp, fake: FakeBackend
) -> None:
    # The events stream and an action's answer come from different threads: the
    # answer to "cancel" (still running) may arrive after the stream's "cancelled".
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        running = app.runs_view.runs[3]
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetail))
        ended = replace(running, state=RunState.CANCELLED, exit_code=143)
        fake.runs[3] = ended  # stored; the page fetches it afresh when it sees the end
        app.post_message(RunChanged(ended))
        app.post_message(RunChanged(replace(running), reply=True))
        app.post_message(RunChanged(replace(running)))  # a stale stream snapshot, too
        await pilot.pause(0.1)
        assert "cancelled" in text_of(app, "#summary")
        await pilot.press("escape")
        assert rows(app)[2][2] == "cancelled"
        # A reply does add what the stream has not told yet (a new run).
        app.post_message(RunChanged(make_run(9, "new", RunState.QUEUED), reply=True))
        await until(pilot, lambda: rows(app)[0][:3] == ["9", "new", "queued"])

    drive(app, scenario)


def test_cancel_from_the_run_page(app: EvdApp, fake: FakeBackend) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetail))
        await pilot.press("c")
        await until(pilot, lambda: ("cancel", 3) in fake.calls)
        await until(pilot, lambda: "cancelled" in text_of(app, "#summary"))

    drive(app, scenario)


def test_retry_submits_an_ended_run_again_as_it_was(app: EvdApp, fake: FakeBackend) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("down", "down", "down", "r")  # run 2, failed
        await until(pilot, lambda: ("rerun", (2, None)) in fake.calls)
        await until(pilot, lambda: rows(app)[0][:3] == ["6", "train", "queued"])
        await pilot.press("home", "down", "down", "down", "r")  # run 3 still runs: refused
        await pilot.pause(0.1)
        assert [call for call in fake.calls if call[0] == "rerun"] == [("rerun", (2, None))]

    drive(app, scenario)


def test_rerun_lets_the_words_be_edited_first(app: EvdApp, fake: FakeBackend) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("down", "down", "R")  # run 3: embed.py --shard 3
        await until(pilot, lambda: isinstance(app.screen, ArgsPrompt))
        words = app.screen.query_one("#words", Input)
        assert words.value == "--shard 3"
        words.value = "--shard 4 --note 'two words'"
        await pilot.press("enter")
        await until(pilot, lambda: fake.calls[-1][0] == "rerun")
        assert fake.calls[-1] == ("rerun", (3, ["--shard", "4", "--note", "two words"]))

    drive(app, scenario)


def test_copy_run_id_puts_it_on_the_clipboard(app: EvdApp) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("down", "y")
        assert app.clipboard == "4"

    drive(app, scenario)


def test_submit_form_queues_a_job_file_with_its_resources(
    app: EvdApp, fake: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        form.query_one("#file", Input).value = "train.py"
        form.query_one("#gpus", Input).value = "two"
        await pilot.click("#submit")
        assert "GPUs: 'two' is not a number" in text_of(app, "#problem")
        form.query_one("#gpus", Input).value = "1"
        form.query_one("#cpus", Input).value = "4"
        form.query_one("#priority", Input).value = "5"
        form.query_one("#args", Input).value = "--epochs 3"
        form.query_one("#args", Input).focus()
        await pilot.press("enter")  # Enter in any field submits too
        await until(pilot, lambda: any(call[0] == "submit" for call in fake.calls))
        request = next(call[1] for call in fake.calls if call[0] == "submit")
        assert request.file == str(tmp_path / "train.py")
        assert (request.gpus, request.cpus, request.priority) == (1.0, 4.0, 5)
        assert request.args == ["--epochs", "3"] and request.cwd == str(tmp_path)
        await until(pilot, lambda: cursor_run(app) == 6)  # the new run is selected

    drive(app, scenario)


def test_submit_form_picks_a_file_from_the_tree(
    app: EvdApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pipeline.py").write_text("print('hi')\n")
    (tmp_path / "notes.txt").write_text("not a job\n")
    monkeypatch.chdir(tmp_path)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen))
        tree = app.screen.query_one("#tree")
        await until(pilot, lambda: tree.cursor_node is not None and tree.root.children)  # type: ignore[attr-defined]
        names = [str(node.label) for node in tree.root.children]  # type: ignore[attr-defined]
        assert names == ["pipeline.py"]  # only what can be a job
        tree.focus()
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.screen.query_one("#file", Input).value == "pipeline.py")
        await pilot.press("escape")
        assert not isinstance(app.screen, SubmitScreen)

    drive(app, scenario)


def test_other_views_show_gpus_queue_environments_watches_and_schedules(app: EvdApp) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("2")
        await until(pilot, lambda: "H100" in text_of(app, "#gpus"))
        gpus = text_of(app, "#gpus")
        assert "63%" in gpus and "20.0 GiB of 80.0 GiB" in gpus and "3 embed (1)" in gpus
        assert "37%" in text_of(app, "#machine") or "38%" in text_of(app, "#machine")
        queue = text_of(app, "#queue")
        assert "Queue (1 waiting)" in queue and "held by run 3" in queue

        for key, table_id, expected in (
            ("3", "#envs-table", "daft==0.7.26"),
            ("4", "#watches-table", "/home/ada/inbox"),
            ("5", "#schedules-table", "in 3h00m"),
        ):
            await pilot.press(key)
            table = app.query_one(f"{table_id} DataTable", DataTable)
            await until(pilot, lambda t=table: t.row_count == 1)  # type: ignore[misc]
            assert expected in [str(cell) for cell in table.get_row_at(0)]
        await pilot.press("1")
        assert app.query_one("#tabs").active == "runs"  # type: ignore[attr-defined]

    drive(app, scenario)


def test_theme_toggles_between_light_and_dark(app: EvdApp) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        assert app.theme == "textual-dark"
        await pilot.press("t")
        assert app.theme == "textual-light"
        await pilot.press("t")
        assert app.theme == "textual-dark"

    drive(app, scenario)


def test_every_action_is_in_the_command_palette(app: EvdApp, fake: FakeBackend) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        titles = {command.title: command for command in app.get_system_commands(app.screen)}
        for title in ("Submit a job", "Open run", "Cancel run", "Retry run",
                      "Re-run with new arguments", "Copy run id", "Filter runs",
                      "Toggle light/dark theme", "Show Runs", "Show Resources",
                      "Show Environments", "Show Watches", "Show Schedules"):  # fmt: skip
            assert title in titles, title
        # Through the palette itself, as a person would.
        await pilot.press("down", "ctrl+p", *"cancel run")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: ("cancel", 4) in fake.calls)

    drive(app, scenario)


def test_the_app_says_when_evd_goes_away_and_reconnects_when_it_is_back(
    app: EvdApp, fake: FakeBackend
) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        fake.stop()
        await until(pilot, lambda: "not answering" in text_of(app, "#connection"))
        assert "evd up" in text_of(app, "#connection")
        fake.runs[8] = make_run(8, "while-away", RunState.QUEUED)
        fake.start()
        await until(pilot, lambda: "pid 4242" in text_of(app, "#connection"), timeout=8)
        await until(pilot, lambda: rows(app)[0][1] == "while-away")  # reloaded on reconnect

    drive(app, scenario)


def test_a_broken_stream_is_reported_and_retried(app: EvdApp, fake: FakeBackend) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        fake.down = True  # so the retry fails too, until the test says otherwise
        fake.stream.put(DaemonNotRunning("evd stopped while streaming"))
        await until(pilot, lambda: not app.connected)
        fake.start()
        await until(pilot, lambda: app.connected, timeout=8)
        # The follower says it is connected, then opens the stream: wait for that too.
        streams = lambda: [call for call in fake.calls if call[0] == "events"]  # noqa: E731
        await until(pilot, lambda: len(streams()) == 2)
        assert streams() == [("events", 100), ("events", 100)]  # resumed where it was

    drive(app, scenario)


def test_the_mouse_opens_runs_and_switches_views(app: EvdApp) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.runs_view.table.row_count == 5)
        # The third row (run 3): a line of header, then a line per run. A click
        # puts the cursor on a run; a click on the run under the cursor opens it.
        await pilot.click("#runs-table", offset=(3, 3))
        await until(pilot, lambda: cursor_run(app) == 3)
        await pilot.click("#runs-table", offset=(3, 3))
        await until(pilot, lambda: isinstance(app.screen, RunDetail))
        assert isinstance(app.screen, RunDetail) and app.screen.run.id == 3
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunDetail))
        await pilot.click("Tab#--content-tab-resources")
        await until(pilot, lambda: app.query_one("#tabs").active == "resources")  # type: ignore[attr-defined]

    drive(app, scenario)
