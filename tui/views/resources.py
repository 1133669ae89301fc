"""The resources view: each GPU's use and holders, their timeline, CPUs and memory, the queue.

The daemon samples devices on its own timer, so this view asks for the last
sample every ``REFRESH`` seconds while it is shown, and at once after a run
changes state (a start or an end changes who holds what).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.theme import Theme
from textual.widgets import Static

from evd.models import Run
from evd.models.timeline import Timeline
from evd.units import format_size
from tui import format as fmt
from tui.views.timeline import TimelineDrawing

REFRESH = 2.0
HEAD = 8  # queued runs shown


def _meter(label: str, fraction: float, words: str, theme: Theme) -> Text:
    colour = theme.error if fraction >= 0.9 else theme.warning if fraction >= 0.7 else theme.success
    return Text.assemble(
        f"  {label:<7}", (fmt.bar(fraction, 20), colour or ""), f" {fraction * 100:3.0f}%  {words}"
    )


def machine_text(machine: dict[str, Any], theme: Theme) -> Text:
    """CPUs and memory: how busy the machine is and what evd has reserved."""
    out = Text("Machine\n", style="bold")
    cpus = machine.get("cpus", 0) or 1
    out.append_text(
        _meter(
            "CPU",
            machine.get("cpu_percent", 0.0) / 100,
            f"{cpus} cores; {machine.get('cpus_free', 0):g} of"
            f" {machine.get('cpus_usable', cpus):g} free for runs",
            theme,
        )
    )
    out.append("\n")
    total = machine.get("memory", 0) or 1
    available = machine.get("memory_available", total)
    out.append_text(
        _meter(
            "memory",
            (total - available) / total,
            f"{format_size(total - available)} of {format_size(total)} used;"
            f" {format_size(max(0, machine.get('memory_unreserved', 0)))} unreserved",
            theme,
        )
    )
    return out


def gpus_text(machine: dict[str, Any], theme: Theme) -> Text:
    """Each GPU: utilisation, memory, problems, and the runs that hold it."""
    gpus = machine.get("gpus", [])
    out = Text(f"GPUs ({machine.get('source', 'none')})\n", style="bold")
    if not gpus:
        out.append(f"  none: {machine.get('note') or 'no GPU found'}\n")
        return out
    for gpu in gpus:
        out.append(f"  GPU {gpu['index']}  {gpu['name']}\n", style="bold")
        if gpu.get("utilization") is not None:
            out.append_text(_meter("util", gpu["utilization"] / 100, "", theme))
            out.append("\n")
        total = gpu.get("memory_total") or 1
        used = gpu.get("memory_used") or 0
        words = f"{format_size(used)} of {format_size(total)}"
        if gpu.get("memory_external"):
            words += f" ({format_size(gpu['memory_external'])} outside evd)"
        out.append_text(_meter("memory", used / total, words, theme))
        out.append("\n")
        if gpu.get("problem"):
            out.append(f"  problem: {gpu['problem']}\n", style=theme.error or "red")
        holders = gpu.get("runs") or []
        held = ", ".join(f"{run['id']} {run['name']} ({run['share']:g})" for run in holders)
        out.append(f"  runs    {held or 'none'}\n")
        if workers := gpu.get("workers"):
            warm = ", ".join(f"{w['id']} {w['name']} ({w['share']:g})" for w in workers)
            out.append(f"  workers {warm}\n")
    return out


def workers_text(machine: dict[str, Any]) -> Text:
    """Warm workers: the job each serves, its state, and what it holds while it lives."""
    workers = machine.get("workers") or []
    out = Text(f"Warm workers ({len(workers)})\n", style="bold")
    if not workers:
        out.append("  none (a job declares `reusable` to get one)\n")
    for worker in workers:
        state = f"serving run {worker['serving']}" if worker["serving"] else worker["state"]
        gpus = f", GPU {','.join(map(str, worker['gpus']))}" if worker["gpus"] else ""
        out.append(
            f"  {worker['id']:>4}  {worker['name'][:24]:<24}  {state:<18}"
            f" {worker['runs']} run(s); holds {worker['cpus']:g} CPU{gpus}\n"
        )
    return out


def queue_text(length: int, head: list[Run]) -> Text:
    """The queue's length and its first runs, each with why it waits."""
    out = Text(f"Queue ({length} waiting)\n", style="bold")
    if not head:
        out.append("  empty\n")
    for run in head:
        out.append(f"  {run.id:>6}  {run.name[:24]:<24}  p{run.priority:<3} {run.reason or ''}\n")
    if length > len(head):
        out.append(f"  … and {length - len(head)} more\n")
    return out


class ResourcesView(VerticalScroll):
    """Machine, GPUs and queue, as last fetched."""

    DEFAULT_CSS = """
    ResourcesView > Static { padding: 0 1 1 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        """Empty until the first fetch."""
        super().__init__(id=id)
        self.machine: dict[str, Any] | None = None
        self.queue: tuple[int, list[Run]] = (0, [])
        self.timeline: Timeline | None = None

    def compose(self) -> Any:
        """Five sections."""
        yield Static("loading…", id="machine")
        yield Static(id="gpus")
        yield Static(id="timeline")
        yield Static(id="workers")
        yield Static(id="queue")

    def on_mount(self) -> None:
        """Repaint with the theme."""
        self.watch(self.app, "theme", lambda _theme: self.draw(), init=False)

    def show(
        self, machine: dict[str, Any], queue: tuple[int, list[Run]], timeline: Timeline | None
    ) -> None:
        """New figures from the daemon (``timeline``: ``None`` when it was not fetched again)."""
        self.machine = machine
        self.queue = queue
        if timeline is not None:
            self.timeline = timeline
        self.draw()

    def draw(self) -> None:
        """Draw what was last fetched."""
        if self.machine is None:
            return
        theme = self.app.current_theme
        self.query_one("#machine", Static).update(machine_text(self.machine, theme))
        self.query_one("#gpus", Static).update(gpus_text(self.machine, theme))
        if self.timeline is not None:
            self.query_one("#timeline", Static).update(TimelineDrawing(self.timeline))
        self.query_one("#workers", Static).update(workers_text(self.machine))
        self.query_one("#queue", Static).update(queue_text(*self.queue))
