"""Where evd keeps its state: the layout of ``$EVD_HOME``.

::

    $EVD_HOME/            mode 0700
      evd.sock            the API socket (mode 0600)
      evd.pid             the daemon's pid alone on the first line; flock-ed while it lives
      evd.log             the daemon's own log
      evd.db              SQLite (WAL): runs and their events
      runs/<id>/          one folder per run: output.log, exit, shim.pid

Standard library only: the CLI's hot path imports this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from evd.homedir import SOCKET_NAME, home_dir


def default_home() -> Path:
    """Return ``$EVD_HOME``, else the platform's user data dir for evd."""
    return Path(home_dir())


@dataclass(frozen=True)
class StateDir:
    """The files and folders of one evd state dir."""

    root: Path

    @classmethod
    def from_env(cls) -> StateDir:
        """The state dir named by ``$EVD_HOME`` (or the platform default)."""
        return cls(default_home())

    @property
    def socket(self) -> Path:
        """The API's Unix socket."""
        return self.root / SOCKET_NAME

    @property
    def pid_file(self) -> Path:
        """The daemon's pid file (also its lock)."""
        return self.root / "evd.pid"

    @property
    def log_file(self) -> Path:
        """The daemon's own log."""
        return self.root / "evd.log"

    @property
    def database(self) -> Path:
        """The SQLite database."""
        return self.root / "evd.db"

    @property
    def drain_file(self) -> Path:
        """Present while ``evd drain`` is in force."""
        return self.root / "draining"

    @property
    def runs(self) -> Path:
        """The folder holding one folder per run."""
        return self.root / "runs"

    def run_dir(self, run_id: int) -> Path:
        """The folder of run ``run_id``."""
        return self.runs / str(run_id)

    def ensure(self) -> None:
        """Create the state dir and its runs folder (mode 0700)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runs.mkdir(mode=0o700, exist_ok=True)
        # Existing dirs may have been made with a looser umask: the socket and
        # the jobs' environments are in here, so they must be private.
        for folder in (self.root, self.runs):
            os.chmod(folder, 0o700)
