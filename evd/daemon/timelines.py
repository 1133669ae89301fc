"""The GPU timeline: who held each GPU, and the CPUs alone, over a window; what is planned next.

Past and running attempts come from the store's events (each ``running``
event keeps the devices of its attempt); planned ones are the queued runs'
forecast starts (``Board.planned``: the queue played forward with the
scheduler and the estimates), on the devices the play gave them. The window
reaches ahead of now by a quarter of its past, so a 6 h timeline shows what
should start in the next 1.5 h.
"""

from __future__ import annotations

from evd.daemon.core.board import Board
from evd.models.timeline import Timeline, TimelineRow, iso_at, make_span
from evd.resources.inventory import Inventory

AHEAD = 0.25  # how far the window reaches past now, as a part of its past


def timeline(board: Board, inventory: Inventory, now: float, past: float) -> Timeline:
    """The rows of spans from ``past`` seconds ago to a quarter of that ahead of ``now``."""
    since, until = now - past, now + past * AHEAD
    rows = [TimelineRow(f"GPU {gpu.index}", gpu.index) for gpu in inventory.gpus]
    by_gpu = {row.gpu: row for row in rows}
    cpu_only = TimelineRow("CPU only", None)
    for attempt in board.store.attempts_since(since):
        kind = "running" if attempt.end is None else "ran"
        span = make_span(
            attempt.run_id,
            attempt.name,
            kind=kind,
            state=attempt.state,
            start=attempt.start,
            end=attempt.end,
        )
        holders = [by_gpu[i] for i in attempt.gpus if i in by_gpu] or [cpu_only]
        for row in holders:
            row.spans.append(span)
    for run_id, expected in sorted(board.planned().items(), key=lambda item: item[1].at):
        record = board.store.get_run(run_id)
        if record is None or expected.at > until:
            continue
        span = make_span(
            run_id,
            record.name,
            kind="planned",
            state=record.state.value,
            start=expected.at,
            end=expected.until,
        )
        for row in [by_gpu[i] for i in expected.gpus if i in by_gpu] or [cpu_only]:
            row.spans.append(span)
    return Timeline(iso_at(now), iso_at(since), iso_at(until), [*rows, cpu_only])
