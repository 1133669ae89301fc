"""Messages the app's background threads post to it (``post_message`` is thread-safe)."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from evd.models import Health, Run


class RunChanged(Message):
    """A run is as given now (its state changed, or an action returned it).

    ``reply``: the run as an action's answer had it. The events stream is
    ordered, replies are not: a reply may reach the app after the stream
    already told of a later state, so it only adds what the stream has not.
    """

    def __init__(self, run: Run, reply: bool = False) -> None:
        """Carry ``run``; ``reply`` if an action's answer, not the events stream, gave it."""
        super().__init__()
        self.run = run
        self.reply = reply


def supersedes(new: Run, shown: Run | None, reply: bool = False) -> bool:
    """Whether ``new`` should replace ``shown``, the same run as a view has it.

    A run that has ended never changes again (the daemon refuses to), so a
    snapshot that says it has not ended is older than the one shown. A reply
    replaces a shown run only with its end (cancelling a queued run ends it at
    once); anything else in it the stream says in order.
    """
    if shown is None:
        return True
    if shown.state.is_final and not new.state.is_final:
        return False
    return not reply or new.state.is_final


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
