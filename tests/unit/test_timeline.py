"""The GPU timeline's layout (pure), its terminal and SVG drawings, and the attempts it reads."""

from __future__ import annotations

import itertools
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from evd.cli.timeline import svg, text
from evd.models import RunState
from evd.models.timeline import Timeline, TimelineRow, TimelineSpan, iso_at, make_span
from evd.store import Store
from evd.timeline import axis, lay_out, segments

NOW = 1_790_000_000.0
HOUR = 3600.0
SVG = "{http://www.w3.org/2000/svg}"


def span(
    run_id: int, kind: str, start: float, end: float | None, name: str = "job"
) -> TimelineSpan:
    """A span ``start`` to ``end`` seconds from ``NOW``."""
    end_at = None if end is None else NOW + end
    return make_span(run_id, name, kind=kind, state="succeeded", start=NOW + start, end=end_at)


def timeline(*rows: TimelineRow) -> Timeline:
    # 100 columns over 6 h back and 1.5 h ahead: 270 s a column.
    return Timeline(iso_at(NOW), iso_at(NOW - 6 * HOUR), iso_at(NOW + 1.5 * HOUR), list(rows))


def test_spans_fall_on_their_columns_and_overlaps_go_to_lanes_below() -> None:
    gpu = TimelineRow("GPU 0", 0, [
        span(1, "ran", -5 * HOUR, -3 * HOUR, "prepare"),
        span(2, "ran", -4 * HOUR, -2 * HOUR, "share"),  # overlaps 1: a second lane
        span(3, "running", -1 * HOUR, None, "train"),  # to now
        span(4, "planned", 0.5 * HOUR, 1.0 * HOUR, "eval"),
        span(5, "ran", -9 * HOUR, -7 * HOUR),  # before the window: not drawn
    ])  # fmt: skip
    layout = lay_out(timeline(gpu), 100)
    first, second = layout.lanes
    assert (first.label, second.label) == ("GPU 0", "")
    assert [(p.span.run_id, p.first, p.last) for p in first.placed] == [
        (1, 13, 40), (3, 66, 80), (4, 86, 93)
    ]  # fmt: skip
    assert [(p.span.run_id, p.first, p.last) for p in second.placed] == [(2, 26, 53)]
    assert layout.now_column == 80
    drawn = "".join(words for words, _ in segments(first, layout))
    assert drawn[13:22] == "1 prepare" and drawn[66:73] == "3 train"
    assert drawn[80] == "│" and drawn[86:92] == "4 eval" and drawn[92] == "░"


def test_a_row_keeps_to_its_lanes_and_counts_what_it_cannot_show() -> None:
    cpu = TimelineRow("CPU only", None, [span(i, "ran", -2 * HOUR, -1 * HOUR) for i in range(1, 6)])
    layout = lay_out(timeline(cpu), 100, lanes=3)
    assert len(layout.lanes) == 3 and layout.lanes[-1].hidden == 2
    assert "+2" in text(layout, colour=False).splitlines()[3]


def test_ticks_name_times_from_now_or_the_local_clock() -> None:
    layout = lay_out(timeline(TimelineRow("GPU 0", 0)), 100, relative=True)
    assert [words for _, words in layout.ticks] == [
        "-6h",
        "-5h",
        "-4h",
        "-3h",
        "-2h",
        "-1h",
        "now",
        "+1h",
    ]
    assert axis(layout).split() == ["-6h", "-5h", "-4h", "-3h", "-2h", "-1h", "now", "+1h"]
    clock = lay_out(timeline(TimelineRow("GPU 0", 0)), 100, local=time.gmtime)
    assert clock.ticks[0][1] == time.strftime("%H:00", time.gmtime(NOW - 5 * HOUR))


def test_the_terminal_drawing_colours_bars_only_when_asked() -> None:
    layout = lay_out(timeline(TimelineRow("GPU 0", 0, [span(7, "ran", -3 * HOUR, -1 * HOUR)])), 100)
    plain = text(layout, colour=False)
    assert "\x1b[" not in plain and "7 job███" in plain and "█ ran" in plain
    coloured = text(layout, colour=True)
    assert "\x1b[30;48;5;" in coloured and "7 job   " in coloured  # the colour draws the bar


def test_the_svg_is_a_picture_with_a_bar_per_span(tmp_path: Path) -> None:
    gpu = TimelineRow("GPU 0", 0, [
        span(1, "ran", -3 * HOUR, -1 * HOUR, "a<b"), span(2, "planned", 0.2 * HOUR, None),
    ])  # fmt: skip
    picture = ET.fromstring(svg(lay_out(timeline(gpu), 960, gap=60)))
    ticks = [float(t.get("x", 0)) for t in picture.iter(f"{SVG}text") if t.get("y") == "14"]
    assert len(ticks) >= 5 and min(b - a for a, b in itertools.pairwise(ticks)) >= 60
    rects = picture.findall(f"{SVG}g/{SVG}rect")
    assert len(rects) == 2 and rects[1].get("stroke-dasharray") == "3 2"  # planned: dashed
    titles = [t.text for t in picture.iter(f"{SVG}title")]
    assert any(title and "run 1 a<b: ran" in title for title in titles) and "now" in titles


def test_each_attempt_is_read_with_the_devices_it_ran_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    new = {"env": None, "priority": 0, "timeout": None, "reason": None, "cwd": "/"}
    run_id, _ = store.insert_run(name="train", command=["python", "t.py"], now=NOW, **new)
    store.transition(run_id, RunState.RUNNING, None, NOW + 10, gpus=[1], started_at=NOW + 10)
    store.transition(run_id, RunState.QUEUED, "preempted by run 9", NOW + 20)
    store.transition(run_id, RunState.RUNNING, None, NOW + 30, gpus=[0], started_at=NOW + 30)
    other, _ = store.insert_run(name="old", command=["true"], now=NOW - 9 * HOUR, **new)
    store.transition(other, RunState.RUNNING, None, NOW - 9 * HOUR, gpus=[0])
    store.transition(other, RunState.SUCCEEDED, None, NOW - 8 * HOUR, ended_at=NOW - 8 * HOUR)
    attempts = store.attempts_since(NOW - HOUR)
    assert [(a.run_id, a.start, a.end, a.gpus) for a in attempts] == [
        (run_id, NOW + 10, NOW + 20, (1,)), (run_id, NOW + 30, None, (0,))
    ]  # fmt: skip
