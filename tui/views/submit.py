"""The submit form: pick a job file, set its GPUs, CPUs and priority, submit."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Label

from evd.client import passable_environment
from evd.models import SubmitRequest


class JobFileTree(DirectoryTree):
    """Folders and Python files only; hidden ones left out."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        """Keep what a job can be."""
        return [
            path
            for path in paths
            if not path.name.startswith(".") and (path.is_dir() or path.suffix == ".py")
        ]


def read_request(
    *, file: str, args: str, gpus: str, cpus: str, priority: str, environment: str, cwd: Path
) -> SubmitRequest:
    """The form's fields as a request; ``ValueError`` says which field is wrong and why."""
    if not file.strip():
        raise ValueError("pick a job file (a .py file) first")
    path = (cwd / file.strip()).resolve()
    if path.suffix != ".py":
        raise ValueError(f"{file} is not a .py file")
    if not path.is_file():
        raise ValueError(f"{file} does not exist")
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise ValueError(f"arguments: {exc}") from None
    env, _skipped = passable_environment()
    return SubmitRequest(
        file=str(path),
        args=words,
        cwd=str(cwd),
        env=env,
        gpus=_number("GPUs", gpus, minimum=0.0),
        cpus=_number("CPUs", cpus, minimum=0.01),
        priority=_whole("priority", priority),
        environment=environment.strip() or None,
    )


def _number(what: str, text: str, minimum: float) -> float | None:
    if not text.strip():
        return None  # as the job declares
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if value < minimum:
        raise ValueError(f"{what}: must be at least {minimum:g}")
    return value


def _whole(what: str, text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a whole number") from None


class SubmitScreen(ModalScreen[SubmitRequest | None]):
    """The form; dismissed with the request, or ``None`` when given up."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]
    DEFAULT_CSS = """
    SubmitScreen { align: center middle; }
    SubmitScreen > Vertical {
        width: 90; height: 90%; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    SubmitScreen JobFileTree { height: 1fr; min-height: 5; }
    SubmitScreen .row { height: 3; }
    SubmitScreen .row Input { width: 1fr; }
    SubmitScreen #problem { color: $error; height: auto; }
    SubmitScreen #buttons { height: 3; align-horizontal: right; }
    """

    def __init__(self, cwd: Path | None = None) -> None:
        """Offer the files under ``cwd`` (default: the current folder)."""
        super().__init__()
        self.cwd = cwd or Path(os.getcwd())

    def compose(self) -> ComposeResult:
        """The tree, the fields, the buttons."""
        with Vertical():
            yield Label(f"Submit a job  (files under {_homely(self.cwd)})")
            yield JobFileTree(self.cwd, id="tree")
            yield Input(placeholder="job file (pick above or type a path)", id="file")
            yield Input(placeholder="arguments for the job", id="args")
            with Horizontal(classes="row"):
                yield Input(placeholder="GPUs (as declared)", id="gpus")
                yield Input(placeholder="CPUs (as declared)", id="cpus")
                yield Input(placeholder="priority (0)", id="priority")
                yield Input(placeholder="environment (as declared)", id="environment")
            yield Label("", id="problem")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Submit", variant="primary", id="submit")

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        """A file picked in the tree goes into the file field."""
        event.stop()
        path = event.path
        shown = path.relative_to(self.cwd) if path.is_relative_to(self.cwd) else path
        self.query_one("#file", Input).value = str(shown)
        self.query_one("#args", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in any field submits."""
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Submit or give up."""
        event.stop()
        if event.button.id == "submit":
            self.submit()
        else:
            self.dismiss(None)

    def submit(self) -> None:
        """Check the fields; dismiss with the request, or say what is wrong."""
        field = {name: self.query_one(f"#{name}", Input).value for name in self._fields()}
        try:
            request = read_request(cwd=self.cwd, **field)
        except ValueError as exc:
            self.query_one("#problem", Label).update(str(exc))
            return
        self.dismiss(request)

    @staticmethod
    def _fields() -> tuple[str, ...]:
        return ("file", "args", "gpus", "cpus", "priority", "environment")


def _homely(path: Path) -> str:
    """``~/proj`` for a folder under the home folder, as a shell shows it; else the path."""
    home = Path.home()
    return (
        f"~/{path.relative_to(home)}" if path.is_relative_to(home) and path != home else str(path)
    )
