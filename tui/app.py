"""The app: five views in tabs, the events stream behind them, the actions in front.

Made with a factory of backends (``tui.backend``): ``evd tui`` passes clients
of the daemon, tests pass a fake. The events follower (``tui.live``) posts
run changes and progress to the app, which hands them to the views; views
that show sampled figures (resources, environments, watches, schedules)
fetch them while they are shown.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from evd.errors import EvdError
from evd.models import Run
from tui.actions import RunActions
from tui.backend import Backend, BackendFactory, PerThread, daemon_backend
from tui.live import EventFollower
from tui.messages import ConnectionChanged, ProgressReported, RunChanged
from tui.threads import deliver
from tui.views import resources as resources_view
from tui.views import tables
from tui.views import timeline as timeline_view
from tui.views.detail import RunDetail
from tui.views.resources import ResourcesView
from tui.views.runs import PAGE, RunFilter, RunsView

THEMES = ("textual-dark", "textual-light")
REFRESH_AFTER_CHANGE = 0.3  # seconds after a run changes before a shown listing is refetched

# tab id -> (title, key)
TABS = {
    "runs": ("Runs", "1"),
    "resources": ("Resources", "2"),
    "envs": ("Environments", "3"),
    "watches": ("Watches", "4"),
    "schedules": ("Schedules", "5"),
}


def _label(tab: str) -> str:
    """A tab's title with the key that shows it: ``Runs [1]``."""
    title, key = TABS[tab]
    return f"{title} [{key}]"


class EvdApp(App[None]):
    """evd's terminal UI."""

    TITLE = "evd"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("s", "submit", "Submit"),
        Binding("t", "toggle_theme", "Theme"),
        *(
            Binding(key, f"show_tab('{tab}')", title, show=False)
            for tab, (title, key) in TABS.items()
        ),
    ]
    CSS = """
    #connection { height: 1; padding: 0 1; background: $boost; }
    #connection.lost { background: $error 30%; color: $text; }
    """

    def __init__(
        self,
        connect: BackendFactory | None = None,
        *,
        clock: Callable[[], float] = time.time,
        theme: str = THEMES[0],
    ) -> None:
        """Talk to the daemon through backends made by ``connect`` (default: ``$EVD_HOME``'s)."""
        super().__init__()
        self.connect = connect or daemon_backend()
        self.backends = PerThread(self.connect)
        self.clock = clock
        self.theme = theme
        self.actions = RunActions(self, self.backends)
        self.follower = EventFollower(self.connect, self.post_message)
        self.connected = False
        self._refresh_due = False
        self._timeline_at = -math.inf  # when the timeline was last asked for

    def compose(self) -> ComposeResult:
        """Header, connection line, the views, footer."""
        yield Header()
        yield Static("connecting to evd…", id="connection")
        with TabbedContent(initial="runs", id="tabs"):
            with TabPane(_label("runs"), id="runs"):
                yield RunsView(self._load_runs, self.clock, id="runs-view")
            with TabPane(_label("resources"), id="resources"):
                yield ResourcesView(id="resources-view")
            with TabPane(_label("envs"), id="envs"):
                yield tables.Listing(
                    tables.ENV_COLUMNS, tables.env_row, "no environment built yet", id="envs-table"
                )
            with TabPane(_label("watches"), id="watches"):
                yield tables.Listing(
                    tables.WATCH_COLUMNS,
                    tables.watch_row,
                    "no folder watched (evd watch add DIR)",
                    id="watches-table",
                )
            with TabPane(_label("schedules"), id="schedules"):
                yield tables.Listing(
                    tables.SCHEDULE_COLUMNS,
                    tables.schedule_row,
                    "no schedule (evd schedule add --every 1h FILE)",
                    id="schedules-table",
                )
        yield Footer()

    def on_mount(self) -> None:
        """Follow the daemon; refresh sampled views while they are shown."""
        self.follower.start()
        self.set_interval(resources_view.REFRESH, self._refresh_sampled)
        self.set_interval(tables.REFRESH, self._refresh_listing)
        self.query_one("#runs-table").focus()

    def on_unmount(self) -> None:
        """Stop following."""
        self.follower.stop()

    @property
    def runs_view(self) -> RunsView:
        """The runs view."""
        return self.query_one(RunsView)

    # -- the daemon's news -----------------------------------------------------------

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        """Say whether evd answers; on (re)connecting, fetch what is shown afresh."""
        line = self.query_one("#connection", Static)
        if message.health is not None:
            health = message.health
            self.connected = True
            line.remove_class("lost")
            state = " · draining" if health.draining else ""
            line.update(f"● evd {health.version} · pid {health.pid} · {health.home}{state}")
            self.runs_view.reload()
            self._refresh_active()
        else:
            self.connected = False
            line.add_class("lost")
            line.update(
                f"✖ evd is not answering: {message.problem}"
                " — reconnecting when it is back (start it with `evd up`)"
            )

    def on_run_changed(self, message: RunChanged) -> None:
        """A run changed: every view that shows it is told."""
        self.runs_view.apply(message.run, message.reply)
        for screen in self.screen_stack:
            if isinstance(screen, RunDetail) and screen.run.id == message.run.id:
                screen.apply(message.run, message.reply)
        if self.query_one("#tabs", TabbedContent).active != "runs" and not self._refresh_due:
            # Many runs may change at once: one refetch for all of them.
            self._refresh_due = True
            self.set_timer(REFRESH_AFTER_CHANGE, self._refresh_after_change)

    def on_progress_reported(self, message: ProgressReported) -> None:
        """Progress of a running run."""
        self.runs_view.report_progress(message.run_id, message.progress, message.detail)
        screen = self.screen
        if isinstance(screen, RunDetail) and screen.run.id == message.run_id:
            screen.report_progress(message.progress, message.detail)

    # -- fetching --------------------------------------------------------------------

    def _load_runs(self, wanted: RunFilter, before: int | None) -> None:
        view = self.runs_view

        def work() -> None:
            try:
                runs = self.backends.get().list_runs(
                    wanted.states,
                    PAGE,
                    before=before,
                    text=wanted.text or None,
                    labels=wanted.labels or None,
                )
            except (EvdError, OSError):
                # Keep the rows shown: the connection line says evd is away, and
                # reconnecting reloads them.
                deliver(view, view.page_failed, wanted)
                return
            deliver(view, view.show_page, runs, before, wanted)

        self.run_worker(work, thread=True, group="runs-page")

    def _refresh_after_change(self) -> None:
        self._refresh_due = False
        self._refresh_active()

    def _refresh_active(self) -> None:
        active = self.query_one("#tabs", TabbedContent).active
        if active == "resources":
            self._refresh_sampled()
        elif active in ("envs", "watches", "schedules"):
            self._refresh_listing()

    def _refresh_sampled(self) -> None:
        if not self.connected or self.query_one("#tabs", TabbedContent).active != "resources":
            return
        view = self.query_one(ResourcesView)
        # The timeline changes slowly (a column is minutes) and costs the daemon more.
        with_timeline = self.clock() - self._timeline_at >= timeline_view.REFRESH
        if with_timeline:
            self._timeline_at = self.clock()

        def work(backend: Backend) -> None:
            machine = backend.gpus()
            queue = backend.queue(resources_view.HEAD)
            timeline = backend.timeline(timeline_view.SINCE) if with_timeline else None
            deliver(view, view.show, machine, queue, timeline)

        self._fetch(work, "resources")

    def _refresh_listing(self) -> None:
        active = self.query_one("#tabs", TabbedContent).active
        if not self.connected or active not in ("envs", "watches", "schedules"):
            return
        table: tables.Listing[Any] = self.query_one(f"#{active}-table", tables.Listing)
        listing: dict[str, Callable[[Backend], Any]] = {
            "envs": lambda backend: backend.list_envs(),
            "watches": lambda backend: backend.list_watches(),
            "schedules": lambda backend: backend.list_schedules(),
        }

        def work(backend: Backend) -> None:
            items = listing[active](backend)
            deliver(table, table.show, items, self.clock())

        self._fetch(work, active)

    def _fetch(self, work: Callable[[Backend], None], group: str) -> None:
        def guarded() -> None:
            # On failure the connection line says why; the next refresh tries again.
            with contextlib.suppress(EvdError, OSError):
                work(self.backends.get())

        self.run_worker(guarded, thread=True, group=group, exclusive=True)

    def on_tabbed_content_tab_activated(self, _event: TabbedContent.TabActivated) -> None:
        """A view shown: fetch it now rather than at the next refresh."""
        self._refresh_active()

    # -- actions ---------------------------------------------------------------------

    def current_run(self) -> Run | None:
        """The run an action means: the open run page's, else the one under the cursor."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, RunDetail):
                return screen.run
        return self.runs_view.selected

    def _with_run(self, act: Callable[[Run], None]) -> None:
        run = self.current_run()
        if run is None:
            self.notify("no run selected", severity="warning")
            return
        act(run)

    def action_open_run(self) -> None:
        """Open the page of the run under the cursor."""
        run = self.runs_view.selected
        if run is not None:
            self.push_screen(RunDetail(run, self.actions, self.backends, self.clock))

    def on_runs_view_open_requested(self, message: RunsView.OpenRequested) -> None:
        """Enter or a click on a run."""
        self.push_screen(RunDetail(message.run, self.actions, self.backends, self.clock))

    def action_cancel_run(self) -> None:
        """Cancel the current run."""
        self._with_run(self.actions.cancel)

    def action_retry_run(self) -> None:
        """Submit the current run again as it was."""
        self._with_run(self.actions.retry)

    def action_rerun_run(self) -> None:
        """Submit the current run again with edited words."""
        self._with_run(self.actions.rerun)

    def action_copy_run_id(self) -> None:
        """Copy the current run's id."""
        self._with_run(self.actions.copy_id)

    def action_submit(self) -> None:
        """Submit a job file."""
        self.actions.submit(self._select_run)

    def action_show_tab(self, tab: str) -> None:
        """Show one of the views."""
        while isinstance(self.screen, RunDetail):
            self.pop_screen()
        self.query_one("#tabs", TabbedContent).active = tab

    def action_filter_runs(self) -> None:
        """Type a filter for the runs."""
        self.action_show_tab("runs")
        self.query_one("#filter").focus()

    def action_toggle_theme(self) -> None:
        """Light or dark."""
        self.theme = THEMES[1] if self.theme == THEMES[0] else THEMES[0]

    def _select_run(self, run: Run) -> None:
        self.action_show_tab("runs")
        self.runs_view.apply(run, reply=True)  # its RunChanged may still be in the queue
        table = self.runs_view.table
        if str(run.id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(run.id)))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every action in the command palette (ctrl+p)."""
        yield from super().get_system_commands(screen)
        for title, help_text, action in self._commands():
            yield SystemCommand(title, help_text, action)
        for tab, (title, _key) in TABS.items():
            yield SystemCommand(
                f"Show {title}", f"The {title.lower()} view", partial(self.action_show_tab, tab)
            )

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        return [
            ("Submit a job", "Pick a job file, set resources, queue it", self.action_submit),
            ("Open run", "The page of the run under the cursor", self.action_open_run),
            ("Cancel run", "Cancel or stop the current run", self.action_cancel_run),
            ("Retry run", "Queue the current run again as it was", self.action_retry_run),
            ("Re-run with new arguments", "Edit the job's words, then queue it",
             self.action_rerun_run),
            ("Copy run id", "Put the current run's id on the clipboard", self.action_copy_run_id),
            ("Filter runs", "Show runs whose name contains some text", self.action_filter_runs),
            ("Toggle light/dark theme", "Switch between the light and dark theme",
             self.action_toggle_theme),
        ]  # fmt: skip
