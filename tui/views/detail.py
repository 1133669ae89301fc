"""One run's page: its state, progress, metrics, settings, history and result, and its log.

The log follows live (``tui.logs``); ``/`` searches it. State changes and
progress come from the app's events stream; the metrics are the sampler's
series, fetched every ``METRICS_EVERY`` seconds while the run is active (the
daemon samples; there is no event per sample).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Log, ProgressBar, Sparkline, Static

from evd.describe import (
    describe_data,
    describe_peaks,
    expected_start_words,
    progress_words,
    runtime,
    short_command,
)
from evd.errors import EvdError
from evd.models import Run, RunState
from evd.resources.request import Request
from evd.units import format_duration, format_size
from tui import format as fmt
from tui.actions import RunActions
from tui.backend import PerThread
from tui.logs import LogFollower
from tui.messages import LogChunk, supersedes
from tui.threads import deliver

METRICS_EVERY = 2.0
SPARKS = (("cpu", "CPU %"), ("rss", "memory"), ("gpu", "GPU memory"))  # id, label


class LogSearch:
    """Matches of a search in the log's lines, and which one is shown."""

    def __init__(self, lines: list[str], text: str) -> None:
        """Find ``text`` (any case) in ``lines``."""
        needle = text.lower()
        self.text = text
        self.matches = [i for i, line in enumerate(lines) if needle and needle in line.lower()]
        self.current = -1

    def step(self, forward: bool) -> int | None:
        """The next (or previous) matching line, wrapping; ``None`` when nothing matches."""
        if not self.matches:
            return None
        self.current = (self.current + (1 if forward else -1)) % len(self.matches)
        return self.matches[self.current]

    def describe(self) -> str:
        """``match 2 of 7 for 'loss'``, or that there is none."""
        if not self.matches:
            return f"no line contains {self.text!r}"
        return f"match {self.current + 1} of {len(self.matches)} for {self.text!r}  (n / N)"


class RunDetail(Screen[None]):
    """The page of one run."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry", "Retry"),
        Binding("R", "rerun", "Re-run…"),
        Binding("y", "copy_id", "Copy id"),
        Binding("slash", "search", "Search log"),
        Binding("n", "next_match", "Next", show=False),
        Binding("N", "previous_match", "Previous", show=False),
        Binding("f", "toggle_follow", "Follow"),
    ]
    DEFAULT_CSS = """
    RunDetail #top { height: auto; max-height: 50%; }
    RunDetail #summary { padding: 0 1; }
    RunDetail #progress-row { height: 1; padding: 0 1; }
    RunDetail #progress-row ProgressBar { width: 40; }
    RunDetail #progress-words { width: 1fr; padding: 0 1; }
    RunDetail #sparks { height: 4; padding: 0 1; }
    RunDetail .spark { width: 1fr; padding: 0 1 0 0; }
    RunDetail .spark Sparkline { height: 2; }
    RunDetail #info { padding: 0 1; color: $text-muted; }
    RunDetail #search { display: none; }
    RunDetail #search.shown { display: block; }
    RunDetail #found { height: auto; padding: 0 1; color: $text-muted; }
    RunDetail Log { height: 1fr; border-top: solid $primary; }
    """

    def __init__(
        self, run: Run, actions: RunActions, backends: PerThread, clock: Callable[[], float]
    ) -> None:
        """Show ``run`` (refreshed at once from the daemon)."""
        super().__init__()
        self.run = run
        self.actions = actions
        self.backends = backends
        self.clock = clock
        self.series: dict[str, list[Any]] = {}
        self.result: str | None = None
        self.follow = True
        self.search: LogSearch | None = None
        self._log: LogFollower | None = None

    def compose(self) -> ComposeResult:
        """Summary, progress, sparklines, settings; the search box and the log."""
        with VerticalScroll(id="top"):
            yield Static(id="summary")
            with Horizontal(id="progress-row"):
                yield ProgressBar(total=1.0, show_eta=False, id="progress")
                yield Static(id="progress-words")
            with Horizontal(id="sparks"):
                for key, label in SPARKS:
                    with Vertical(classes="spark"):
                        yield Static(label, id=f"{key}-label")
                        yield Sparkline([], id=f"{key}-spark")
            yield Static(id="info")
        yield Input(placeholder="search the log (Enter; Escape to close)", id="search")
        yield Static(id="found")
        yield Log(id="log", max_lines=200_000, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        """Draw, then fetch the rest: the full run, metrics, result, log."""
        self.title = f"run {self.run.id}"
        self.draw()
        self._fetch()
        self.set_interval(METRICS_EVERY, self._fetch_metrics_while_active)
        self._log = LogFollower(self.backends.get, self.run.id, self.post_message)
        self._log.start()

    def on_unmount(self) -> None:
        """Stop following the log."""
        if self._log is not None:
            self._log.stop()

    # -- data ------------------------------------------------------------------------

    def apply(self, run: Run, reply: bool = False) -> None:
        """The run changed (from the events stream, or an action: ``reply``)."""
        if not supersedes(run, self.run, reply):
            return
        ended_now = run.state.is_final and not self.run.state.is_final
        events = self.run.events
        self.run = run
        if run.events is None:
            self.run.events = events
        self.draw()
        if ended_now:
            self._fetch()

    def report_progress(self, progress: float, detail: dict[str, Any]) -> None:
        """Live progress."""
        if self.run.state is RunState.RUNNING:
            self.run.progress = progress
            self.run.progress_detail = dict(detail)
            self._draw_progress()

    def _fetch(self) -> None:
        """The run with its history, its metrics and (once ended) its result."""

        def work() -> None:
            backend = self.backends.get()
            try:
                run = backend.get_run(self.run.id)
                metrics = backend.metrics(self.run.id)
                result = self._read_result(run)
            except (EvdError, OSError) as exc:  # say it, keep the page as it is
                deliver(self, partial(self.notify, str(exc), severity="error"))
                return
            deliver(self, self._fetched, run, metrics, result)

        self.run_worker(work, thread=True, group="detail")

    def _read_result(self, run: Run) -> str | None:
        if run.state is not RunState.SUCCEEDED or run.kind not in ("job", "function"):
            return None
        try:
            value = self.backends.get().result(run.id)
        except EvdError:  # no result kept (a main that returned nothing, or an int)
            return None
        return json.dumps(value, ensure_ascii=False)[:2000]

    def _fetched(self, run: Run, metrics: dict[str, Any], result: str | None) -> None:
        if supersedes(run, self.run):  # else the stream told of its end meanwhile
            self.run = run
        self.series = metrics.get("series", {})
        self.result = result
        self.draw()

    def _fetch_metrics_while_active(self) -> None:
        if self.run.state is not RunState.RUNNING:
            return

        def work() -> None:
            try:
                metrics = self.backends.get().metrics(self.run.id)
            except (EvdError, OSError):  # evd away: the header says so; try next time
                return
            deliver(self, self._metrics_fetched, metrics)

        self.run_worker(work, thread=True, group="metrics", exclusive=True)

    def _metrics_fetched(self, metrics: dict[str, Any]) -> None:
        self.series = metrics.get("series", {})
        self.run.metrics = metrics.get("peaks") or self.run.metrics
        self._draw_sparks()
        self._draw_info()

    # -- drawing ---------------------------------------------------------------------

    def draw(self) -> None:
        """Everything above the log."""
        self._draw_summary()
        self._draw_progress()
        self._draw_sparks()
        self._draw_info()

    def _draw_summary(self) -> None:
        run = self.run
        theme = self.app.current_theme
        text = Text.assemble(
            (f"run {run.id}  ", "bold"),
            (run.name, "bold"),
            "  ",
            fmt.state_text(run.state, theme),
            f"  runtime {runtime(run.started_at, run.ended_at, self.clock())}",
            f"  exit {fmt.exit_text(run) or '-'}",
            f"  attempts {run.attempts}",
        )
        if run.reason:
            text.append(f"\n{run.reason}", style=fmt.state_colour(run.state, theme))
        self.query_one("#summary", Static).update(text)

    def _draw_progress(self) -> None:
        run = self.run
        fraction = fmt.shown_progress(run) or 0.0
        self.query_one("#progress", ProgressBar).update(progress=fraction)
        words = progress_words(run.progress_detail) if run.progress is not None else ""
        self.query_one("#progress-words", Static).update(
            words or ("no progress reported" if run.progress is None else "")
        )

    def _draw_sparks(self) -> None:
        cpu = [float(v) for v in self.series.get("cpu_percent", [])]
        rss = [float(v) for v in self.series.get("rss", [])]
        gpu = [float(sum(v.values())) for v in self.series.get("gpu_memory", []) if v is not None]
        for key, values, last in (
            ("cpu", cpu, f"{cpu[-1]:.0f}%" if cpu else "-"),
            ("rss", rss, format_size(rss[-1]) if rss else "-"),
            ("gpu", gpu, format_size(gpu[-1]) if gpu else "-"),
        ):
            self.query_one(f"#{key}-spark", Sparkline).data = values
            label = dict(SPARKS)[key]
            self.query_one(f"#{key}-label", Static).update(f"{label}  {last}")

    def _draw_info(self) -> None:
        run = self.run
        lines = [
            f"what       {short_command(run.command)}",
            f"cwd        {run.cwd}",
            f"env        {run.env or 'the daemon environment'}"
            + (f" ({run.env_hash})" if run.env_hash else ""),
            f"python     {run.settings.get('python') or 'default'};"
            f" packages: {', '.join(run.settings.get('dependencies', [])) or 'none'}",
            f"resources  {_resources(run)}; GPUs held: {fmt.gpus_text(run) or '-'}",
            f"created    {run.created_at}   started {run.started_at or '-'}"
            f"   ended {run.ended_at or '-'}",
        ]
        if run.estimate is not None or run.expected_start is not None:
            estimate = "-" if run.estimate is None else f"~{format_duration(run.estimate)}"
            starts = expected_start_words(run.expected_start) if run.state.value == "queued" else ""
            lines.append(f"estimate   {estimate}" + (f"; starts {starts}" if starts else ""))
        if run.policy:
            lines.append("policy     " + ", ".join(f"{k}={v}" for k, v in run.policy.items()))
        if run.metrics:
            lines.append(f"peaks      {describe_peaks(run.metrics)}")
        if run.group is not None:
            lines.append(f"group      g{run.group} item {run.group_index}")
        if run.labels:
            lines.append("labels     " + ", ".join(f"{k}={v}" for k, v in run.labels.items()))
        network = run.settings.get("network")
        lines += describe_data(run.meta, network, run.inputs, run.published)
        if run.cache_key:
            taken = f"; result taken from run {run.cached_from}" if run.cached_from else ""
            lines.append(f"cache      key {run.cache_key[:12]}{taken}")
        if self.result is not None:
            lines.append(f"result     {self.result}")
        for event in run.events or []:
            reason = f"  {event.reason}" if event.reason else ""
            lines.append(f"  {event.at}  {event.state.value}{reason}")
        self.query_one("#info", Static).update(Text("\n".join(lines)))

    # -- the log ---------------------------------------------------------------------

    def on_log_chunk(self, message: LogChunk) -> None:
        """New log text; a search shown is kept up to date."""
        if message.run_id != self.run.id:
            return
        log = self.query_one(Log)
        if message.text:
            log.write(message.text, scroll_end=self.follow)
        if message.ended:
            log.write_line("── end of log ──" if not message.text.strip() else "")

    def action_search(self) -> None:
        """Show the search box."""
        box = self.query_one("#search", Input)
        box.add_class("shown")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Search the log for the text and show the first match."""
        if event.input.id != "search":
            return
        event.stop()
        self.search = LogSearch(list(self.query_one(Log).lines), event.value)
        self.query_one(Log).focus()
        self._show_match(forward=True)

    def on_key(self, event: events.Key) -> None:
        """Escape in the search box closes it (instead of leaving the page)."""
        box = self.query_one("#search", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            box.remove_class("shown")
            self.query_one(Log).focus()

    def action_next_match(self) -> None:
        """The next line that matches."""
        self._show_match(forward=True)

    def action_previous_match(self) -> None:
        """The previous line that matches."""
        self._show_match(forward=False)

    def _show_match(self, forward: bool) -> None:
        if self.search is None:
            return
        line = self.search.step(forward)
        found = self.query_one("#found", Static)
        found.update(self.search.describe())
        if line is not None:
            self.follow = False
            log = self.query_one(Log)
            log.auto_scroll = False
            log.scroll_to(y=max(0, line - 2), animate=False)

    def action_toggle_follow(self) -> None:
        """Follow the end of the log, or stay where it is."""
        self.follow = not self.follow
        log = self.query_one(Log)
        log.auto_scroll = self.follow
        if self.follow:
            log.scroll_end(animate=False)
        self.notify("following the log" if self.follow else "not following the log")

    # -- actions ---------------------------------------------------------------------

    def action_cancel(self) -> None:
        """Cancel this run."""
        self.actions.cancel(self.run)

    def action_retry(self) -> None:
        """Submit this run again as it was."""
        self.actions.retry(self.run)

    def action_rerun(self) -> None:
        """Submit this run again with edited words."""
        self.actions.rerun(self.run)

    def action_copy_id(self) -> None:
        """Copy this run's id."""
        self.actions.copy_id(self.run)


def _resources(run: Run) -> str:
    return Request.from_dict(run.resources).describe() if run.resources else "-"
