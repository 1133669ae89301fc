"""How runs, sizes and times read on screen: pure functions, no widgets."""

from __future__ import annotations

from rich.text import Text
from textual.theme import Theme

from evd.describe import progress_words
from evd.models import Run, RunState

BAR_WIDTH = 10
_EIGHTHS = " ▏▎▍▌▋▊▉"


def state_colour(state: RunState | str, theme: Theme) -> str:
    """The theme's colour for a state, so both light and dark themes read well."""
    value = RunState(state)
    if value is RunState.SUCCEEDED:
        return theme.success or "green"
    if value in (RunState.FAILED, RunState.LOST, RunState.TIMED_OUT):
        return theme.error or "red"
    if value is RunState.CANCELLED:
        return theme.warning or "yellow"
    if value in (RunState.RUNNING, RunState.STARTING):
        return theme.accent or theme.primary
    if value in (RunState.BUILDING, RunState.STAGING):
        return theme.secondary or theme.primary
    return theme.foreground or ""  # queued: plain


def state_text(state: RunState | str, theme: Theme) -> Text:
    """The state's name in its colour (bold while it is active)."""
    value = RunState(state)
    style = state_colour(value, theme)
    if not value.is_final:
        style += " bold"
    return Text(value.value, style=style)


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar of ``width`` cells filled to ``fraction`` (eighths of a cell)."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[part] if part else "")
    return text.ljust(width)


def shown_progress(run: Run) -> float | None:
    """The fraction to show: a run that succeeded is done, whatever it last reported."""
    if run.progress is None:
        return None
    return 1.0 if run.state is RunState.SUCCEEDED else run.progress


def progress_text(run: Run, theme: Theme) -> Text:
    """A run's progress as a bar and a percentage (empty when it reports none)."""
    shown = shown_progress(run)
    if shown is None:
        return Text("")
    colour = state_colour(run.state, theme)
    return Text.assemble((bar(shown), colour), f" {shown * 100:3.0f}%")


def gpus_text(run: Run) -> str:
    """The devices a run holds (``0,1``), or what it asks for while it waits (``want 2``)."""
    if run.gpus:
        return ",".join(str(index) for index in run.gpus)
    wanted = run.resources.get("gpus") or 0
    if wanted and not run.state.is_final:
        return f"want {wanted:g}"
    return ""


def exit_text(run: Run) -> str:
    """The exit code, if the run has one."""
    return "" if run.exit_code is None else str(run.exit_code)


def note_text(run: Run) -> str:
    """What to say beside a run: why it waits, why it failed, or its progress message."""
    if run.state is RunState.RUNNING and run.progress_detail:
        return progress_words(run.progress_detail)
    return run.reason or ""
