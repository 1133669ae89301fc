"""The re-run prompt: the job's words, editable, before it is submitted again."""

from __future__ import annotations

import shlex

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from evd.models import Run


class ArgsPrompt(ModalScreen[list[str] | None]):
    """Edit the words a run's job gets; Enter submits, Escape gives up."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]
    DEFAULT_CSS = """
    ArgsPrompt { align: center middle; }
    ArgsPrompt > Vertical {
        width: 80; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    ArgsPrompt #problem { color: $error; }
    """

    def __init__(self, run: Run, words: list[str]) -> None:
        """Prompt for run ``run``'s words, starting from ``words``."""
        super().__init__()
        self.run = run
        self.words = words

    def compose(self) -> ComposeResult:
        """A title, the words, and where a parse error goes."""
        with Vertical():
            yield Label(f"Re-run run {self.run.id} ({self.run.name}) with these words:")
            yield Input(shlex.join(self.words), id="words")
            yield Label("Enter submits; Escape goes back.  Words split as a shell would.")
            yield Label("", id="problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Split the words as a shell would, then submit them."""
        try:
            words = shlex.split(event.value)
        except ValueError as exc:
            self.query_one("#problem", Label).update(f"cannot read the words: {exc}")
            return
        self.dismiss(words)
