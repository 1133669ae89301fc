"""What a person can do to runs from anywhere in the app: cancel, retry, re-run, copy, submit.

Each action calls the daemon in a thread worker and reports back with a
notification; the run it returns is posted as ``RunChanged`` so every view
shows it at once (the events stream confirms it a moment later).

Retry submits the run again exactly as it was asked for (a new run, as
``POST /v1/runs/ID/rerun``; for a failed or cancelled run). Re-run does the
same after letting the person edit the job's words first.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.app import App

from evd.describe import job_words
from evd.errors import EvdError
from evd.models import Run, SubmitRequest
from tui.backend import Backend, PerThread
from tui.messages import RunChanged
from tui.threads import deliver
from tui.views.prompt import ArgsPrompt
from tui.views.submit import SubmitScreen


class RunActions:
    """The actions, bound to an app and its backends."""

    def __init__(self, app: App[Any], backends: PerThread) -> None:
        """Act through ``backends`` and report in ``app``."""
        self.app = app
        self.backends = backends

    def cancel(self, run: Run) -> None:
        """Cancel a queued run, or stop a running one."""
        if run.state.is_final:
            self.app.notify(
                f"run {run.id} has already ended ({run.state.value})", severity="warning"
            )
            return
        self._call(
            lambda backend: backend.cancel(run.id),
            lambda done: f"run {done.id}: {'stopping' if not done.state.is_final else done.state}",
        )

    def retry(self, run: Run) -> None:
        """Submit an ended run again, exactly as it was asked for."""
        if not run.state.is_final:
            self.app.notify(
                f"run {run.id} is still {run.state.value}: cancel it first, or re-run it (R)",
                severity="warning",
            )
            return
        self._call(
            lambda backend: backend.rerun(run.id),
            lambda new: f"run {new.id} queued (a retry of run {run.id})",
        )

    def rerun(self, run: Run) -> None:
        """Submit a run again after editing its job's words."""

        def submit(words: list[str] | None) -> None:
            if words is not None:
                self._call(
                    lambda backend: backend.rerun(run.id, words),
                    lambda new: f"run {new.id} queued (run {run.id} with {shlex.join(words)!r})",
                )

        self.app.push_screen(ArgsPrompt(run, job_words(run.command)), submit)

    def copy_id(self, run: Run) -> None:
        """Put the run's id on the clipboard (OSC 52: works over SSH too)."""
        self.app.copy_to_clipboard(str(run.id))
        self.app.notify(f"copied run id {run.id}")

    def submit(self, on_queued: Callable[[Run], None] | None = None) -> None:
        """Ask for a job file and its resources, then queue it."""

        def submit(request: SubmitRequest | None) -> None:
            if request is not None:
                self._call(
                    lambda backend: backend.submit(request),
                    lambda new: f"run {new.id} queued ({new.name})",
                    on_queued,
                )

        self.app.push_screen(SubmitScreen(), submit)

    def _call(
        self,
        call: Callable[[Backend], Run],
        say: Callable[[Run], str],
        then: Callable[[Run], None] | None = None,
    ) -> None:
        def work() -> None:
            try:
                run = call(self.backends.get())
            except (EvdError, OSError) as exc:
                deliver(self.app, partial(self.app.notify, str(exc), severity="error"))
                return
            self.app.post_message(RunChanged(run, reply=True))
            deliver(self.app, partial(self.app.notify, say(run)))
            if then is not None:
                deliver(self.app, then, run)

        self.app.run_worker(work, thread=True, group="actions")
