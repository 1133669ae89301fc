"""The gate: whether evd takes new work and starts runs right now, and why not.

Three switches, each owned by one part and read by all: ``accepting`` (off once
evd begins to stop; the engine), ``degraded`` (why the store cannot be
written, while it cannot; recovery) and drain mode (a file in the state dir, so
it survives restarts; ``evd drain`` / ``evd resume``).
"""

from __future__ import annotations

from evd.errors import ShuttingDown, StorageError
from evd.paths import StateDir


class Gate:
    """Whether new runs are taken and started; one instance, shared by the core's parts."""

    def __init__(self, state: StateDir) -> None:
        """Open: accepting, writable, not draining (unless the drain file says so)."""
        self.state = state
        self.accepting = True
        self.degraded: str | None = None

    @property
    def draining(self) -> bool:
        """Whether ``evd drain`` is in force."""
        return self.state.drain_file.exists()

    def drain(self, on: bool) -> None:
        """Set or clear drain mode (the caller ticks the queue after clearing it)."""
        if on:
            self.state.drain_file.touch()
        else:
            self.state.drain_file.unlink(missing_ok=True)

    def check(self) -> None:
        """Raise ``ShuttingDown`` or ``StorageError`` unless new work can be taken now."""
        if not self.accepting:
            raise ShuttingDown("evd is shutting down and takes no new runs; `evd up` restarts it")
        if self.degraded:
            raise StorageError(self.degraded)

    def check_writable(self) -> None:
        """Raise ``StorageError`` while the store cannot be written."""
        if self.degraded:
            raise StorageError(self.degraded)

    @property
    def holds_starts(self) -> bool:
        """Whether nothing may start now (stopping, degraded or draining)."""
        return not self.accepting or self.degraded is not None or self.draining

    def paused_reason(self) -> str | None:
        """Why nothing starts at all right now, in words, if so."""
        if self.draining:
            return "waiting: evd is draining (`evd resume` starts runs again)"
        if not self.accepting:
            return "waiting: evd is shutting down"
        if self.degraded:
            return "waiting: evd cannot write its database (see evd.log)"
        return None
