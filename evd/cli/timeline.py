"""``evd timeline``: who held each GPU (and the CPUs alone) over the last hours, and what is next.

The terminal gets coloured blocks (the run's id and name written in its bar;
plain block characters when the output is no terminal or ``NO_COLOR`` is set),
``--svg FILE`` a picture of the same layout (``evd.timeline``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from evd.cli.commands import help_of, terminal_columns
from evd.cli.types import duration, refused
from evd.client import Client
from evd.timeline import LEGEND, Layout, Placed, axis, lay_out, segments

# Background colours of the bars, by run id (ANSI 256-colour numbers).
PALETTE = (33, 70, 172, 132, 37, 166, 98, 142)
WEEK = 7 * 24 * 3600.0
SVG_COLOURS = (
    "#0087ff",
    "#5faf00",
    "#d78700",
    "#af5f87",
    "#00afaf",
    "#d75f00",
    "#875fd7",
    "#afaf00",
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``timeline``."""
    timeline = sub.add_parser("timeline", help=help_of("timeline"))
    timeline.add_argument(
        "--since", type=window, default=6 * 3600.0, help="how far back (default 6h; 1m to 7d)"
    )
    timeline.add_argument("--svg", metavar="FILE", help="write the timeline as an SVG picture")
    timeline.add_argument("--json", action="store_true", help="print the daemon's JSON")


def window(text: str) -> float:
    """``--since``: a duration from a minute to a week (what the daemon keeps to)."""
    seconds = duration(text)
    if not 60 <= seconds <= WEEK:
        refused(f"{text!r} is out of range: the timeline looks back 1m to 7d")
    return seconds


def cmd_timeline(args: argparse.Namespace) -> int:
    """Print (or draw) the timeline."""
    with Client() as client:
        timeline = client.timeline(args.since)
    if args.json:
        print(json.dumps(timeline.to_dict(), indent=2))
        return 0
    if args.svg:
        layout = lay_out(timeline, SVG_WIDTH, gap=SVG_TICK_GAP)
        Path(args.svg).write_text(svg(layout))
        print(f"wrote {args.svg}")
        return 0
    labels = max(len(row.label) for row in timeline.rows) + 2
    width = max(20, terminal_columns() - labels - 1)
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    print(text(lay_out(timeline, width), colour=colour))
    return 0


def text(layout: Layout, *, colour: bool) -> str:
    """The layout as lines for a terminal (with ANSI colours if ``colour``)."""
    pad = layout.label_width + 2
    lines = [" " * pad + axis(layout)]
    for lane in layout.lanes:
        drawn = "".join(
            _paint(words, placed, colour)
            for words, placed in segments(lane, layout, coloured=colour)
        )
        more = f" +{lane.hidden}" if lane.hidden else ""
        lines.append(f"{lane.label:<{pad}}{drawn}{more}".rstrip())
    lines.append(" " * pad + LEGEND)
    return "\n".join(lines)


def _paint(words: str, placed: Placed | None, colour: bool) -> str:
    if not colour or placed is None:
        return words
    tint = PALETTE[placed.span.run_id % len(PALETTE)]
    if placed.span.kind == "planned":
        return f"\x1b[38;5;{tint}m{words}\x1b[0m"
    bold = "1;" if placed.span.kind == "running" else ""
    return f"\x1b[{bold}30;48;5;{tint}m{words}\x1b[0m"


SVG_WIDTH = 960  # pixels of the time axis
SVG_LANE = 20
SVG_CHAR = 7  # a label character's width, about
SVG_TICK_GAP = 60  # pixels between ticks, at least


def svg(layout: Layout) -> str:
    """The layout as an SVG picture (one pixel a column)."""
    left = layout.label_width * SVG_CHAR + 16
    height = (len(layout.lanes) + 2) * SVG_LANE
    width = left + layout.width + 8
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' font-family="monospace" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for col, words in layout.ticks:
        out.append(f'<text x="{left + col}" y="14" fill="#555">{_escape(words)}</text>')
        out.append(
            f'<line x1="{left + col}" y1="{SVG_LANE}" x2="{left + col}" y2="{height - SVG_LANE}"'
            ' stroke="#eee"/>'
        )
    for index, lane in enumerate(layout.lanes):
        y = (index + 1) * SVG_LANE
        if lane.label:
            out.append(f'<text x="4" y="{y + 14}" fill="#222">{_escape(lane.label)}</text>')
        for placed in lane.placed:
            out.append(_svg_bar(placed, left, y))
        if lane.hidden:
            x = left + layout.width + 2
            out.append(f'<text x="{x}" y="{y + 14}" fill="#555">+{lane.hidden}</text>')
    x = left + layout.now_column
    out.append(
        f'<line x1="{x}" y1="{SVG_LANE}" x2="{x}" y2="{height - SVG_LANE}" stroke="#d00"'
        ' stroke-width="1.5"><title>now</title></line>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_bar(placed: Placed, left: int, y: int) -> str:
    span = placed.span
    fill = SVG_COLOURS[span.run_id % len(SVG_COLOURS)]
    planned = span.kind == "planned"
    style = ' fill-opacity="0.35" stroke-dasharray="3 2"' if planned else ""
    width = placed.last - placed.first
    title = f"run {span.run_id} {span.name}: {span.kind} ({span.state}) from {span.start}"
    title += f" to {span.end}" if span.end else ""
    bar = (
        f'<rect x="{left + placed.first}" y="{y + 2}" width="{width}" height="{SVG_LANE - 4}"'
        f' rx="2" fill="{fill}" stroke="{fill}"{style}/>'
    )
    label = f"{span.run_id} {span.name}"[: max(0, (width - 4) // SVG_CHAR)].rstrip()
    if label:  # dark on the pale planned bars, white on the others
        ink = "#222" if planned else "#fff"
        x = left + placed.first + 3
        bar += f'<text x="{x}" y="{y + 14}" fill="{ink}">{_escape(label)}</text>'
    return f"<g><title>{_escape(title)}</title>{bar}</g>"


def _escape(words: str) -> str:
    return (
        words.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
