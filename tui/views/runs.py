"""The runs view: every run, newest first, filtered by state and text, loaded page by page.

Only a page of runs is fetched at first; the next page (``before`` the oldest
shown) is fetched when the cursor or the scroll comes near the end, so 100,000
runs in history cost no more to open than 200. Live changes arrive as
``RunChanged`` from the app; runtimes of running runs tick on a local timer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static

from evd.describe import expected_start_words, runtime
from evd.models import ACTIVE_STATES, Run, RunState
from tui import format as fmt
from tui.messages import supersedes

PAGE = 200
NEAR_END = 40  # rows from the end at which the next page is asked for

# Fixed widths: rows arrive a page at a time and change live, so widths taken from
# the first rows would cut later ones. NOTE takes what is left.
COLUMNS = ("ID", "NAME", "STATE", "START", "PROGRESS", "GPUS", "RUNTIME", "EXIT", "NOTE")
WIDTHS = (7, 24, 9, 8, fmt.BAR_WIDTH + 5, 7, 8, 4, 80)

# The state filter's choices: (label, states or None for all).
STATE_FILTERS: dict[str, tuple[RunState, ...] | None] = {
    "all": None,
    "active": tuple(s for s in RunState if s in ACTIVE_STATES),
    **{state.value: (state,) for state in RunState},
}


class RunFilter:
    """Which runs the view shows: some states, labels, and a name (or id) fragment."""

    def __init__(self, states: tuple[RunState, ...] | None = None, text: str = "") -> None:
        """Show runs in ``states`` (all if ``None``) matching ``text``.

        Words of ``text`` written ``KEY=VALUE`` are labels the runs must have; the
        rest is a fragment of their name (or their id).
        """
        self.states = states
        words = text.split()
        self.labels = dict(word.split("=", 1) for word in words if "=" in word)
        self.text = " ".join(word for word in words if "=" not in word)

    def matches(self, run: Run) -> bool:
        """Whether ``run`` belongs in the view (the daemon's own rule, for live changes)."""
        if self.states is not None and run.state not in self.states:
            return False
        if any(run.labels.get(key) != value for key, value in self.labels.items()):
            return False
        if not self.text:
            return True
        return self.text.lower() in run.name.lower() or self.text == str(run.id)


class RunsTable(DataTable[object]):
    """The table itself; asks for more rows when it scrolls near its end."""

    # A list of runs goes up and down, not sideways: Home/End (and g/G) mean first/last run.
    BINDINGS = [
        Binding("home,g", "scroll_top", "First", show=False),
        Binding("end,G", "scroll_bottom", "Last", show=False),
    ]

    class NearEnd(Message):
        """The view should load the next page."""

    def near_end(self) -> bool:
        """Whether the cursor or the scroll is within ``NEAR_END`` rows of the last row."""
        if self.row_count == 0:
            return False
        # max_scroll_y is 0 until the rows are laid out: no page is "near its end" then.
        scrolled = self.max_scroll_y > 0 and self.max_scroll_y - self.scroll_y < NEAR_END
        return scrolled or self.row_count - self.cursor_row < NEAR_END

    def watch_scroll_y(self, old: float, new: float) -> None:
        """Scrolling (wheel or keys) near the end asks for more."""
        super().watch_scroll_y(old, new)
        if self.near_end():
            self.post_message(self.NearEnd())

    def watch_cursor_coordinate(self, old: object, new: object) -> None:
        """Moving the cursor near the end asks for more."""
        super().watch_cursor_coordinate(old, new)  # type: ignore[arg-type]
        if self.near_end():
            self.post_message(self.NearEnd())


class RunsView(Vertical):
    """The filter bar, the table, and a line that says how much is shown."""

    class OpenRequested(Message):
        """Enter or a click on a run: open its page."""

        def __init__(self, run: Run) -> None:
            """The run to open."""
            super().__init__()
            self.run = run

    BINDINGS = [
        Binding("c", "app.cancel_run", "Cancel"),
        Binding("r", "app.retry_run", "Retry"),
        Binding("R", "app.rerun_run", "Re-run…"),
        Binding("y", "app.copy_run_id", "Copy id"),
        Binding("slash", "app.filter_runs", "Filter"),
    ]

    DEFAULT_CSS = """
    RunsView #filters { height: 3; }
    RunsView #filter { width: 1fr; }
    RunsView #state { width: 20; }
    RunsView #shown { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(
        self,
        load_page: Callable[[RunFilter, int | None], None],
        clock: Callable[[], float],
        *,
        id: str | None = None,
    ) -> None:
        """``load_page(filter, before)`` fetches a page in a worker and calls ``show_page``."""
        super().__init__(id=id)
        self._load_page = load_page
        self._clock = clock
        self.filter = RunFilter()
        self.runs: dict[int, Run] = {}
        self.exhausted = False
        # A page is on its way (not Textual's `loading`, which would cover the view
        # and take the focus from the filter box while the person types).
        self.fetching = False
        # Runs changed by live events since a page was asked for win over that page.
        self._changes = 0
        self._changed: dict[int, tuple[int, Run]] = {}  # run id -> (change number, run)
        self._page_asked_at = 0

    def compose(self) -> ComposeResult:
        """Filter bar, table, footer line."""
        with Horizontal(id="filters"):
            yield Input(placeholder="filter by name, id or KEY=VALUE labels  (/)", id="filter")
            yield Select(
                [(label, label) for label in STATE_FILTERS],
                value="all",
                allow_blank=False,
                id="state",
            )
        table = RunsTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        for column, width in zip(COLUMNS, WIDTHS, strict=True):
            table.add_column(column, key=column.lower(), width=width)
        yield table
        yield Static("", id="shown")

    def on_mount(self) -> None:
        """Tick running runs' runtimes; repaint when the theme changes."""
        self.set_interval(1.0, self._tick)
        self.watch(self.app, "theme", lambda _theme: self._repaint(), init=False)

    @property
    def table(self) -> RunsTable:
        """The runs table."""
        return self.query_one(RunsTable)

    @property
    def selected(self) -> Run | None:
        """The run under the cursor."""
        table = self.table
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.runs.get(int(key)) if key is not None else None

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the first page again (filter changed, or evd came back)."""
        self.fetching = True
        self._page_asked_at = self._changes
        self._load_page(self.filter, None)

    def load_more(self) -> None:
        """Fetch the next page, unless one is on its way or there is no more."""
        if self.fetching or self.exhausted or not self.runs:
            return
        self.fetching = True
        self._page_asked_at = self._changes
        self._load_page(self.filter, min(self.runs))

    def show_page(self, runs: Sequence[Run], before: int | None, asked: RunFilter) -> None:
        """Add a fetched page (the first one replaces what is shown)."""
        if asked is not self.filter:
            return  # the filter changed while it was on its way; a new page is coming
        self.fetching = False
        table = self.table
        selected = self.selected if before is None else None
        if before is None:
            table.clear()
            self.runs.clear()
        for fetched in runs:
            number, changed = self._changed.get(fetched.id, (-1, fetched))
            run = changed if number > self._page_asked_at else fetched
            if run.id not in self.runs and self.filter.matches(run):
                self.runs[run.id] = run
                table.add_row(*self._cells(run), key=str(run.id))
        # Changes made before this page was asked for are in it already.
        self._changed = {k: v for k, v in self._changed.items() if v[0] > self._page_asked_at}
        self.exhausted = len(runs) < PAGE
        if before is None and selected is not None and str(selected.id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected.id)))
        self._say_shown()

    def page_failed(self, asked: RunFilter) -> None:
        """A page could not be fetched: keep what is shown; the next reload tries again."""
        if asked is self.filter:
            self.fetching = False

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter or a click on a run opens its page."""
        event.stop()
        run = self.selected
        if run is not None:
            self.post_message(self.OpenRequested(run))

    def on_runs_table_near_end(self, _message: RunsTable.NearEnd) -> None:
        """Scrolled near the end: more (if it still is: rows may have come since)."""
        if self.table.near_end():
            self.load_more()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Text filter typed: reload (debounced a little so each key does not fetch)."""
        if event.input.id == "filter":
            event.stop()
            self.filter = RunFilter(self.filter.states, event.value)
            self.set_timer(0.15, lambda wanted=self.filter: self._reload_if(wanted))

    def on_select_changed(self, event: Select.Changed) -> None:
        """State filter chosen: reload."""
        if event.select.id == "state":
            event.stop()
            states = STATE_FILTERS[str(event.value)]
            if states != self.filter.states:  # not the first value, set as it mounts
                self.filter = RunFilter(states, self.filter.text)
                self.reload()

    def _reload_if(self, wanted: RunFilter) -> None:
        if wanted is self.filter:
            self.reload()

    # -- live changes ----------------------------------------------------------------

    def apply(self, run: Run, reply: bool = False) -> None:
        """A run as it is now: update its row, add it, or drop it if it no longer matches.

        ``reply``: an action's answer, which may be older than what is shown
        (see ``supersedes``).
        """
        if not supersedes(run, self.runs.get(run.id), reply):
            return
        self._changes += 1
        if self.fetching:
            self._changed[run.id] = (self._changes, run)
        table = self.table
        key = str(run.id)
        shown = key in table.rows
        if not self.filter.matches(run):
            if shown:
                table.remove_row(key)
                del self.runs[run.id]
                self._say_shown()
            return
        self.runs[run.id] = run
        if shown:
            for column, cell in zip(COLUMNS, self._cells(run), strict=True):
                table.update_cell(key, column.lower(), cell)
            return
        # A run older than every loaded one belongs to a page not fetched yet.
        if self.runs and run.id < min(self.runs) and not self.exhausted:
            del self.runs[run.id]
            return
        selected = self.selected
        table.add_row(*self._cells(run), key=key)
        table.sort("id", reverse=True)
        if selected is not None and str(selected.id) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected.id)), animate=False)
        self._say_shown()

    def report_progress(self, run_id: int, progress: float, detail: dict[str, object]) -> None:
        """Live progress of a running run: its bar and note."""
        run = self.runs.get(run_id)
        if run is None or run.state is not RunState.RUNNING:
            return
        run.progress = progress
        run.progress_detail = dict(detail)
        theme = self.app.current_theme
        self.table.update_cell(str(run_id), "progress", fmt.progress_text(run, theme))
        self.table.update_cell(str(run_id), "note", fmt.note_text(run))

    # -- drawing ---------------------------------------------------------------------

    def _cells(self, run: Run) -> tuple[object, ...]:
        theme = self.app.current_theme
        return (
            run.id,
            Text(run.name, overflow="ellipsis", no_wrap=True),
            fmt.state_text(run.state, theme),
            expected_start_words(run.expected_start, self._clock())
            if run.state is RunState.QUEUED
            else "",
            fmt.progress_text(run, theme),
            fmt.gpus_text(run),
            runtime(run.started_at, run.ended_at, self._clock()),
            fmt.exit_text(run),
            Text(fmt.note_text(run), overflow="ellipsis", no_wrap=True),
        )

    def _tick(self) -> None:
        now = self._clock()
        table = self.table
        for run in self.runs.values():
            if run.state is RunState.RUNNING:
                ran = runtime(run.started_at, run.ended_at, now)
                table.update_cell(str(run.id), "runtime", ran)
            elif run.state is RunState.QUEUED and run.expected_start is not None:
                start = expected_start_words(run.expected_start, now)
                table.update_cell(str(run.id), "start", start)

    def _repaint(self) -> None:
        table = self.table
        for run in self.runs.values():
            for column, cell in zip(COLUMNS, self._cells(run), strict=True):
                table.update_cell(str(run.id), column.lower(), cell)

    def _say_shown(self) -> None:
        count = len(self.runs)
        more = "" if self.exhausted else " (more load as you scroll)"
        noun = "run" if count == 1 else "runs"
        self.query_one("#shown", Static).update(f"{count:,} {noun} shown{more}")
