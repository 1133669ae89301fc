"""Run folders made ahead of time, so taking a run in renames one instead of creating five.

A run's folder holds its ``outputs/`` folder, its ``output.log`` and the shim's
``shim.pid``. Creating a file or folder (an inode) cost 20-200 µs each on the
reference machine's ext4, several times a rename's ~20 µs, and a submit and
a start made four of them on the daemon's event loop (or inside the vfork of
the spawn, which blocks it). A ``FolderStock`` keeps a few such folders ready
under ``runs/.spare``, made by its own thread while the loop does other work;
taking one is a single rename. When the stock is empty (a burst of submits
outran the thread) the folder is made on the spot, as before.

What a spare holds is what any run folder would hold before its job started:
an empty ``output.log`` and an empty ``shim.pid``, which every reader already
treats as "nothing written yet" (a pid file without a pid is a shim that never
started).
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import threading
from pathlib import Path

from evd.runner.shim import LOG_FILE, PID_FILE

SPARE_DIR = ".spare"
OUTPUT_DIR = "outputs"
STOCK_SIZE = 32  # a burst of submits this long takes only renames
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def make_run_folder(path: Path) -> None:
    """Make a run folder with what a spare holds, in place (the slow way)."""
    path.mkdir()
    fill(path)


def fill(path: Path) -> None:
    """Give an empty folder ``path`` a run folder's contents (the daemon's umask: private)."""
    (path / OUTPUT_DIR).mkdir()
    for name in (LOG_FILE, PID_FILE):
        os.close(os.open(path / name, _FILE_FLAGS, 0o600))


class FolderStock:
    """Keeps ``size`` spare run folders under ``runs``; ``place`` moves one into position."""

    def __init__(self, runs: Path, size: int = STOCK_SIZE) -> None:
        """Stock spares under ``runs/.spare`` (on the runs' own file system: a rename moves one)."""
        self.spares = runs / SPARE_DIR
        self.size = size
        self._ready: collections.deque[Path] = collections.deque()
        self._wanted = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._made = 0

    def start(self) -> None:
        """Begin making spares on a thread of their own (the last daemon's are thrown away)."""
        self._thread = threading.Thread(target=self._fill, name="evd-folders", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop making spares (those made stay until the next start clears them)."""
        self._closed = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def place(self, run_dir: Path) -> None:
        """Make ``run_dir`` a run folder: a spare renamed there, else one made on the spot.

        A folder left at ``run_dir`` (an id whose insert was rolled back) is
        removed first.
        """
        try:
            spare = self._ready.popleft()
        except IndexError:
            spare = None
        self._wanted.set()
        if spare is not None:
            try:
                os.rename(spare, run_dir)  # replaces an empty leftover, refuses a full one
                return
            except OSError:
                shutil.rmtree(run_dir, ignore_errors=True)
                with contextlib.suppress(OSError):  # the spare is gone too: make one below
                    os.rename(spare, run_dir)
                    return
        try:
            make_run_folder(run_dir)
        except FileExistsError:
            shutil.rmtree(run_dir, ignore_errors=True)
            make_run_folder(run_dir)

    def _fill(self) -> None:
        shutil.rmtree(self.spares, ignore_errors=True)
        while not self._closed:
            if len(self._ready) >= self.size:
                self._wait_for_want()
                continue
            path = self.spares / str(self._made)
            self._made += 1
            try:
                self.spares.mkdir(exist_ok=True)
                make_run_folder(path)
            except OSError:  # a full disk: try again when the next folder is taken
                shutil.rmtree(path, ignore_errors=True)
                self._wait_for_want()
                continue
            self._ready.append(path)

    def _wait_for_want(self) -> None:
        self._wanted.wait()
        self._wanted.clear()
