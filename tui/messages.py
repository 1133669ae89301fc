"""Messages the app's background threads post to it (``post_message`` is thread-safe)."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from evd.models import Health, Run


class RunChanged(Message):
    """A run is as given now (its state changed, or an action returned it)."""

    def __init__(self, run: Run) -> None:
        """Carry ``run``."""
        super().__init__()
        self.run = run


class ProgressReported(Message):
    """A running run reported progress (never stored as an event; live only)."""

    def __init__(self, run_id: int, progress: float, detail: dict[str, Any]) -> None:
        """Carry the fraction done and the report's fields."""
        super().__init__()
        self.run_id = run_id
        self.progress = progress
        self.detail = detail


class ConnectionChanged(Message):
    """The events stream connected (``health`` set) or was lost (``problem`` set)."""

    def __init__(self, health: Health | None, problem: str | None) -> None:
        """Connected with ``health``, or lost with ``problem``."""
        super().__init__()
        self.health = health
        self.problem = problem

    @property
    def connected(self) -> bool:
        """Whether the daemon answers."""
        return self.health is not None


class LogChunk(Message):
    """New bytes of the log a run-detail screen follows."""

    def __init__(self, run_id: int, text: str, ended: bool = False) -> None:
        """``text`` decoded; ``ended``: the stream is over (the run ended, or evd went away)."""
        super().__init__()
        self.run_id = run_id
        self.text = text
        self.ended = ended
