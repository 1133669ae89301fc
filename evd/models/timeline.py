"""The GPU timeline on the wire: who held each GPU (and the CPUs alone) over a window of time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evd.models.states import iso, parse_iso

SPAN_KINDS = ("ran", "running", "planned")


@dataclass
class TimelineSpan:
    """One run's hold on a row: an attempt that ran, the one running now, or a planned one."""

    run_id: int
    name: str
    kind: str  # "ran", "running" or "planned" (the forecast start of a queued run)
    state: str  # the run's state now
    start: str  # ISO 8601 UTC
    end: str | None  # None: running, or planned without an expected end

    def to_dict(self) -> dict[str, Any]:
        """For the API's JSON (``dataclasses.asdict`` is slow for thousands)."""
        return {
            "run_id": self.run_id,
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "start": self.start,
            "end": self.end,
        }

    @property
    def start_at(self) -> float:
        """``start`` in seconds since the epoch."""
        return parse_iso(self.start)

    @property
    def end_at(self) -> float | None:
        """``end`` in seconds since the epoch (``None``: open)."""
        return None if self.end is None else parse_iso(self.end)


@dataclass
class TimelineRow:
    """One GPU (``gpu`` its index), or the work that holds no GPU (``gpu`` is ``None``)."""

    label: str
    gpu: int | None
    spans: list[TimelineSpan] = field(default_factory=list)


@dataclass
class Timeline:
    """What ``GET /v1/timeline`` answers: rows of spans between ``since`` and ``until``."""

    now: str  # ISO 8601 UTC
    since: str  # the window's start
    until: str  # its end: planned starts are drawn up to here
    rows: list[TimelineRow] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        """Build from the API's JSON."""
        return cls(
            now=data["now"],
            since=data["since"],
            until=data["until"],
            rows=[
                TimelineRow(
                    label=row["label"],
                    gpu=row.get("gpu"),
                    spans=[TimelineSpan(**span) for span in row.get("spans", [])],
                )
                for row in data.get("rows", [])
            ],
        )

    def to_dict(self) -> dict[str, Any]:
        """For the API's JSON."""
        return {
            "now": self.now,
            "since": self.since,
            "until": self.until,
            "rows": [
                {
                    "label": row.label,
                    "gpu": row.gpu,
                    "spans": [span.to_dict() for span in row.spans],
                }
                for row in self.rows
            ],
        }


def iso_at(timestamp: float) -> str:
    """A Unix time as the API writes it (ISO 8601 UTC)."""
    text = iso(timestamp)
    assert text is not None
    return text


def make_span(
    run_id: int, name: str, *, kind: str, state: str, start: float, end: float | None
) -> TimelineSpan:
    """A span from times in seconds since the epoch."""
    return TimelineSpan(run_id, name, kind, state, iso_at(start), iso(end))
