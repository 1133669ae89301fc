"""The GPU timeline laid out on a grid: lanes of placed spans, the now line and the time ticks.

Pure: a ``Timeline`` (``GET /v1/timeline``) and a width in, a ``Layout`` out.
The terminal (``evd timeline``), the TUI's resources view and the SVG picture
draw the same layout, each in its own way. Spans that overlap on one row
(shares of a GPU, CPU-only runs side by side) go to lanes below each other;
past ``lanes`` of them a row says how many it could not show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from evd.models.isotime import parse_iso
from evd.models.timeline import Timeline, TimelineSpan

LANES = 3  # lanes a row may take
FILL = {"ran": "█", "running": "▓", "planned": "░"}
LEGEND = "█ ran  ▓ running  ░ planned (estimated start)  │ now"
TICK_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass(frozen=True)
class Placed:
    """A span laid on a lane: its columns ``first`` to ``last`` (exclusive)."""

    span: TimelineSpan
    first: int
    last: int

    @property
    def label(self) -> str:
        """What is written inside it: the run's id and name, cut to fit."""
        return f"{self.span.run_id} {self.span.name}"[: self.last - self.first]


@dataclass
class Lane:
    """One line of the timeline: the row's label on its first lane, blank on the others."""

    label: str
    placed: list[Placed] = field(default_factory=list)
    hidden: int = 0  # spans of the row that found no lane (on its last lane)


@dataclass
class Layout:
    """The timeline on ``width`` columns."""

    width: int
    since: float
    until: float
    now: float
    lanes: list[Lane]
    ticks: list[tuple[int, str]]  # (column, local time)

    @property
    def now_column(self) -> int:
        """The column of now."""
        return column(self.now, self.since, self.until, self.width)

    @property
    def label_width(self) -> int:
        """Columns the labels take."""
        return max((len(lane.label) for lane in self.lanes), default=0)


def column(at: float, since: float, until: float, width: int) -> int:
    """The column of time ``at`` (clipped to the window)."""
    part = (at - since) / max(until - since, 1e-9)
    return min(width - 1, max(0, int(part * width)))


def lay_out(
    timeline: Timeline,
    width: int,
    *,
    lanes: int = LANES,
    local: Callable[[float], time.struct_time] = time.localtime,
    relative: bool = False,
    gap: int = 12,
) -> Layout:
    """Place every span of ``timeline`` on ``width`` columns, rows split into lanes.

    The ticks, at least ``gap`` columns apart, name local times, or with
    ``relative`` times from now ("-2h", "+30m").
    """
    since, until = parse_iso(timeline.since), parse_iso(timeline.until)
    now = parse_iso(timeline.now)
    out: list[Lane] = []
    for row in timeline.rows:
        row_lanes = [Lane(row.label)]
        ends = [0]  # per lane: the first column still free
        for span in sorted(row.spans, key=lambda s: (s.start_at, s.run_id)):
            placed = _place(span, since, until, now, width)
            if placed is None:
                continue
            free = next((i for i, end in enumerate(ends) if end <= placed.first), None)
            if free is None and len(ends) < lanes:
                row_lanes.append(Lane(""))
                ends.append(0)
                free = len(ends) - 1
            if free is None:
                row_lanes[-1].hidden += 1
                continue
            row_lanes[free].placed.append(placed)
            ends[free] = placed.last
        out.extend(row_lanes)
    step = _step(since, until, width, gap)
    marks = (
        relative_ticks(since, until, now, width, step)
        if relative
        else ticks(since, until, width, step, local)
    )
    return Layout(width, since, until, now, out, marks)


def _place(span: TimelineSpan, since: float, until: float, now: float, width: int) -> Placed | None:
    start = span.start_at
    end = span.end_at
    if end is None:
        end = now if span.kind == "running" else until  # planned with no known end
    if end < since or start > until:
        return None
    first = column(max(start, since), since, until, width)
    last = max(first + 1, column(min(end, until), since, until, width))
    return Placed(span, first, min(last, width))


def _step(since: float, until: float, width: int, gap: int) -> int:
    """The tick interval: the shortest that keeps ticks at least ``gap`` columns apart."""
    seconds_per_column = (until - since) / max(width, 1)
    return next((s for s in TICK_STEPS if s / seconds_per_column >= gap), TICK_STEPS[-1])


def relative_ticks(
    since: float, until: float, now: float, width: int, step: int
) -> list[tuple[int, str]]:
    """Ticks every ``step`` seconds before and after now, named by their distance from it."""
    marks = []
    for k in range(-int((now - since) // step), int((until - now) // step) + 1):
        at = now + k * step
        if since <= at < until:
            marks.append((column(at, since, until, width), _distance(k * step)))
    return marks


def _distance(seconds: float) -> str:
    if seconds == 0:
        return "now"
    sign = "+" if seconds > 0 else "-"
    seconds = abs(seconds)
    if seconds >= 86400:
        return f"{sign}{seconds / 86400:g}d"
    if seconds >= 3600:
        return f"{sign}{seconds / 3600:g}h"
    return f"{sign}{seconds / 60:g}m"


def ticks(
    since: float, until: float, width: int, step: int, local: Callable[[float], time.struct_time]
) -> list[tuple[int, str]]:
    """Round local times every ``step`` seconds along the axis."""
    offset = local(since).tm_gmtoff
    at = since - (since + offset) % step + step
    marks = []
    while at < until:
        stamp = local(at)
        text = time.strftime("%a %H:%M" if step >= 86400 else "%H:%M", stamp)
        marks.append((column(at, since, until, width), text))
        at += step
    return marks


def axis(layout: Layout) -> str:
    """The line of tick labels (those that would overlap the one before are left out)."""
    line = [" "] * layout.width
    for col, words in layout.ticks:
        room = line[max(0, col - 1) : col + len(words) + 1]
        if col + len(words) <= layout.width and all(c == " " for c in room):
            line[col : col + len(words)] = words
    return "".join(line).rstrip()


def segments(
    lane: Lane, layout: Layout, *, coloured: bool = False
) -> list[tuple[str, Placed | None]]:
    """``lane`` as runs of text, each with the span it draws (``None``: empty, or the now line).

    A bar of 4 columns or more has its run's id and name written in it. With
    ``coloured`` the bars of runs that ran or run are filled with spaces (their
    background colour draws them); planned ones keep their shading.
    """
    out: list[tuple[str, Placed | None]] = []
    at, now = 0, layout.now_column
    for placed in sorted(lane.placed, key=lambda p: p.first):
        if placed.first > at:
            out.extend(_gap(at, placed.first, now))
        length = placed.last - placed.first
        label = placed.label if length >= 4 else ""
        kind = placed.span.kind
        fill = " " if coloured and kind != "planned" else FILL[kind]
        out.append((label + fill * (length - len(label)), placed))
        at = placed.last
    out.extend(_gap(at, layout.width, now))
    return [(text, placed) for text, placed in out if text]


def _gap(first: int, last: int, now: int) -> list[tuple[str, Placed | None]]:
    if first <= now < last:
        return [(" " * (now - first), None), ("│", None), (" " * (last - now - 1), None)]
    return [(" " * (last - first), None)]
