"""The GPU timeline in the resources view: a lane per GPU (and CPU-only work), bars coloured by run.

The same layout ``evd timeline`` prints (``evd.timeline``), drawn as Rich text
with ticks counted from now, so the view reads the same in any time zone.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from evd.models.timeline import Timeline
from evd.timeline import LEGEND, Placed, axis, lay_out, segments

SINCE = 6 * 3600.0  # how far back the view looks
REFRESH = 10.0  # seconds between fetches (the resources view's own are more often)
COLOURS = ("dodger_blue2", "chartreuse3", "orange3", "hot_pink3", "cyan3", "dark_orange3")


def _style(placed: Placed | None) -> str:
    if placed is None:
        return "dim"
    colour = COLOURS[placed.span.run_id % len(COLOURS)]
    if placed.span.kind == "planned":
        return colour
    bold = "bold " if placed.span.kind == "running" else ""
    return f"{bold}black on {colour}"


def timeline_text(timeline: Timeline, width: int) -> Text:
    """The timeline on ``width`` columns (labels included)."""
    labels = max((len(row.label) for row in timeline.rows), default=0) + 2
    # Room at the end of a lane for "+N", the spans it could not show.
    layout = lay_out(timeline, max(20, width - labels - 4), relative=True)
    out = Text(no_wrap=True, overflow="crop")
    out.append(f"Timeline (the last {SINCE / 3600:g} h, and planned starts)\n", style="bold")
    out.append(" " * labels + axis(layout) + "\n", style="dim")
    for lane in layout.lanes:
        out.append(f"{lane.label:<{labels}}")
        for words, placed in segments(lane, layout, coloured=True):
            out.append(words, style=_style(placed))
        if lane.hidden:
            out.append(f" +{lane.hidden}", style="dim")
        out.append("\n")
    out.append(" " * labels + LEGEND + "\n", style="dim")
    return out


class TimelineDrawing:
    """The timeline as a Rich renderable, laid out on the width it is drawn at.

    The width is known only when it is drawn: the view's scrollbar comes and
    goes with its content, so a width read earlier may be stale.
    """

    def __init__(self, timeline: Timeline) -> None:
        """Draw ``timeline``."""
        self.timeline = timeline

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The text on ``options.max_width`` columns."""
        yield timeline_text(self.timeline, options.max_width)
