"""Notifications: when a run ends, tell someone.

``[notify]`` in ``EVD_HOME/config.toml``::

    [notify]
    on = ["failed", "timed_out", "lost"]   # which ends (default: every end)
    command = "~/bin/on-run-end"           # gets the run's JSON on stdin
    webhook = "https://hooks.example/evd"  # POSTed the run's JSON
    desktop = true                         # notify-send, where there is one

A hook runs off the loop with a time limit; a hook that fails, hangs or is
missing is logged in ``evd.log`` and changes nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import shutil
from dataclasses import dataclass, field
from typing import Any

from evd.daemon.core.board import Board
from evd.daemon.views import run_view
from evd.models import FINAL_STATES, RunState

log = logging.getLogger("evd.notify")

HOOK_TIMEOUT = 30.0
NOTIFY_KEYS = frozenset({"on", "command", "webhook", "desktop"})


@dataclass(frozen=True)
class NotifySettings:
    """What to call when a run ends, and for which ends."""

    on: frozenset[RunState] = FINAL_STATES
    command: list[str] = field(default_factory=list)
    webhook: str | None = None
    desktop: bool = False

    @property
    def any(self) -> bool:
        """Whether any hook is set."""
        return bool(self.command or self.webhook or self.desktop)


def read_settings(table: dict[str, Any]) -> NotifySettings:
    """``[notify]`` as settings; ``ValueError`` says what is wrong."""
    unknown = set(table) - NOTIFY_KEYS
    if unknown:
        raise ValueError(
            f"[notify]: unknown key(s) {sorted(unknown)}; known: {sorted(NOTIFY_KEYS)}"
        )
    names = table.get("on", [state.value for state in FINAL_STATES])
    try:
        on = frozenset(RunState(name) for name in names)
    except (TypeError, ValueError):
        finals = ", ".join(sorted(state.value for state in FINAL_STATES))
        raise ValueError(f"[notify] on: a list of end states ({finals})") from None
    if not on <= FINAL_STATES:
        raise ValueError("[notify] on: only end states (a run notifies once, when it ends)")
    command = table.get("command", [])
    if isinstance(command, str):
        command = shlex.split(os.path.expanduser(command))
    webhook = table.get("webhook")
    if webhook is not None and not str(webhook).startswith(("http://", "https://")):
        raise ValueError("[notify] webhook: an http:// or https:// URL")
    return NotifySettings(
        on=on, command=list(command), webhook=webhook, desktop=bool(table.get("desktop", False))
    )


class Notifier:
    """Calls the hooks when a run ends (a ledger listener)."""

    def __init__(self, board: Board, settings: NotifySettings) -> None:
        """Hooks of ``settings`` for the runs on ``board``."""
        self.board = board
        self.settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    def run_ended(self, run_id: int, state: RunState) -> None:
        """Start the hooks for a run that ended in one of the ``on`` states."""
        if state not in self.settings.on or not self.settings.any:
            return
        record = self.board.store.get_run(run_id)
        if record is None:
            return
        payload = run_view(self.board, record).to_dict()
        task = asyncio.ensure_future(self._notify(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, run: dict[str, Any]) -> None:
        calls = []
        if self.settings.command:
            calls.append(self._command(run))
        if self.settings.webhook:
            calls.append(asyncio.to_thread(self._post, self.settings.webhook, run))
        if self.settings.desktop:
            calls.append(self._desktop(run))
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.warning("notification for run %s failed: %s", run["id"], outcome)

    async def _command(self, run: dict[str, Any]) -> None:
        env = {**os.environ, "EVD_RUN_ID": str(run["id"]), "EVD_RUN_STATE": run["state"]}
        process = await asyncio.create_subprocess_exec(
            *self.settings.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        try:
            _, err = await asyncio.wait_for(
                process.communicate(json.dumps(run).encode()), HOOK_TIMEOUT
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(
                f"{self.settings.command[0]} ran over {HOOK_TIMEOUT:.0f} s"
            ) from None
        if process.returncode:
            tail = err.decode(errors="replace").strip()[-300:]
            raise RuntimeError(f"{self.settings.command[0]} exited {process.returncode}: {tail}")

    @staticmethod
    def _post(url: str, run: dict[str, Any]) -> None:
        # Imported on the first webhook: most daemons never send one (~1.5 MiB).
        import urllib.request  # noqa: PLC0415

        request = urllib.request.Request(
            url,
            data=json.dumps(run).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "evd"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=HOOK_TIMEOUT) as response:
            response.read()

    async def _desktop(self, run: dict[str, Any]) -> None:
        program = shutil.which("notify-send")
        if program is None:
            log.info("no notify-send on this machine: desktop notifications are skipped")
            return
        title = f"evd: run {run['id']} ({run['name']}) {run['state']}"
        body = run.get("reason") or (
            f"exit code {run['exit_code']}" if run.get("exit_code") is not None else ""
        )
        process = await asyncio.create_subprocess_exec(
            program, "--app-name=evd", title, body,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.wait_for(process.wait(), HOOK_TIMEOUT)
