"""The environments, watches and schedules views: what exists, and how it is doing.

Each is a table filled from one listing call; the app refetches it when the
view is shown, every ``REFRESH`` seconds while it is, and after a run changes
state (a run's end is a watch's filing or a schedule's last run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from evd.describe import ago
from evd.models import EnvInfo, ScheduleInfo, WatchInfo, parse_iso
from evd.units import format_duration, format_size

REFRESH = 5.0

T = TypeVar("T")
Row = tuple[str, ...]


class Listing(Vertical, Generic[T]):
    """A table of one kind of thing, replaced whole when a fetch changed it; a line for none."""

    DEFAULT_CSS = """
    Listing > Static { padding: 1 2; color: $text-muted; }
    """

    def __init__(
        self,
        columns: Sequence[str],
        row: Callable[[T, float], Row],
        empty: str,
        *,
        id: str | None = None,
    ) -> None:
        """Columns, how an item becomes a row (given the time now), and what none looks like."""
        super().__init__(id=id)
        self._columns = columns
        self._row = row
        self._empty = empty
        self._shown: list[Row] | None = None  # the rows on screen, to skip an unchanged fetch

    def compose(self) -> ComposeResult:
        """The table, and the line shown instead of rows when there are none."""
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        for column in self._columns:
            table.add_column(column, key=column.lower())
        yield table
        yield Static("loading…")

    def show(self, items: Sequence[T], now: float) -> None:
        """Replace the rows, keeping the cursor where it was (nothing to do if none changed).

        The columns are sized here, each to its widest cell or its header:
        ``DataTable`` sizes them itself when next idle, and a table filled
        while its tab is hidden could paint its header before that, at the
        headers' widths, and keep it so.
        """
        rows = [self._row(item, now) for item in items]
        note = self.query_one(Static)
        note.update(self._empty)
        note.display = not items
        if rows == self._shown:
            return
        self._shown = rows
        table: DataTable[str] = self.query_one(DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        for index, label in enumerate(self._columns):
            width = max([cell_len(label), *(cell_len(cells[index]) for cells in rows)])
            table.add_column(label, key=label.lower(), width=width)
        for cells in rows:
            table.add_row(*cells)
        table.move_cursor(row=min(row, max(0, table.row_count - 1)), animate=False)


def env_row(env: EnvInfo, now: float) -> Row:
    """One built environment."""
    packages = ", ".join(env.requirements) or "-"
    return (
        env.hash[:12],
        env.python,
        format_size(env.size),
        format_duration(env.build_seconds),
        ago(env.last_used_at, now),
        f"{env.active_runs} / {env.runs}",
        packages,
    )


ENV_COLUMNS = ("HASH", "PYTHON", "SIZE", "BUILD", "LAST USED", "ACTIVE / RUNS", "PACKAGES")


def watch_row(watch: WatchInfo, now: float) -> Row:
    """One watched folder."""
    running = ", ".join(str(run_id) for run_id in watch.running) or "-"
    return (
        str(watch.id),
        watch.dir,
        watch.pattern,
        watch.status,
        str(watch.picked_up),
        running,
        watch.note or "",
    )


WATCH_COLUMNS = ("ID", "FOLDER", "PATTERN", "STATUS", "PICKED UP", "RUNNING", "NOTE")


def schedule_row(schedule: ScheduleInfo, now: float) -> Row:
    """One schedule: when it fires next and how its last run went."""
    if schedule.paused:
        next_fire = "paused"
    elif schedule.next_fire_at is None:
        next_fire = "-"
    else:
        next_fire = "in " + format_duration(max(0.0, parse_iso(schedule.next_fire_at) - now))
    if schedule.last_run_id is not None:
        last = f"{schedule.last_run_id} {schedule.last_run_state or ''}".strip()
    else:
        last = "-"
    return (
        str(schedule.id),
        schedule.spec,
        schedule.what,
        next_fire,
        last,
        str(schedule.fires),
        schedule.note or "",
    )


SCHEDULE_COLUMNS = ("ID", "WHEN", "WHAT", "NEXT", "LAST RUN", "FIRES", "NOTE")
