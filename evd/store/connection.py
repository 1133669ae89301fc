"""The connection every table of the store shares: open, migrate, write, commit.

The daemon is the only writer. Writes open a transaction implicitly and become
durable at ``commit()`` (WAL with ``synchronous=FULL``: one fsync per commit,
~0.3-0.7 ms here). The ledger batches the state changes of a few milliseconds
into one commit; a submit commits before the API answers, so an id a user has seen is
never lost. A write or commit that fails (a full disk) rolls back everything
uncommitted and raises ``StorageError``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from evd.errors import StorageError
from evd.store.migrations import migrate


def dumps(value: Any) -> str:
    """JSON for a column (ASCII only, so any odd code point is storable as plain text)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _make_private(path: Path) -> None:
    """Mode 0600 for the database and its WAL files (SQLite gives them the database's mode).

    A new database gets it from the daemon's umask; this also closes up one
    made by an older evd.
    """
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        try:
            os.chmod(path.with_name(name), 0o600)
        except OSError:
            continue  # not there yet (the umask covers it), or not ours to change


class Connection:
    """One SQLite file, opened and migrated; the tables of ``Store`` write through it."""

    def __init__(self, path: Path | str) -> None:
        """Open (creating and migrating as needed) the database at ``path``."""
        self.path = Path(path)
        _make_private(self.path)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn = conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        # SQLite's own page cache (2 MiB by default) duplicates the OS's: the hot pages
        # of a submit (the runs table's tail, its indexes) fit in 256 KiB.
        conn.execute("PRAGMA cache_size=-256")
        self.applied_migrations = migrate(conn)

    # -- transactions ---------------------------------------------------------

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            if not self._conn.in_transaction:
                self._conn.execute("BEGIN IMMEDIATE")
            return self._conn.execute(sql, params)
        except sqlite3.Error as error:
            self._fail(error)

    def _fail(self, error: sqlite3.Error) -> NoReturn:
        """Roll back everything uncommitted and raise a ``StorageError`` that says what to do."""
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        if getattr(error, "sqlite_errorname", "") == "SQLITE_FULL":
            raise StorageError(
                f"the disk holding {self.path} is full, so evd could not record this."
                " Free some space (`evd prune --older-than 30d` removes old runs);"
                " evd carries on by itself once it can write again."
            ) from error
        raise StorageError(f"evd could not write {self.path}: {error}") from error

    @property
    def dirty(self) -> bool:
        """Whether there are writes not yet committed."""
        return self._conn.in_transaction

    def commit(self) -> None:
        """Make every write so far durable (no-op when there are none)."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._fail(error)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Writes in the block are undone alone if it raises; earlier uncommitted ones stay.

        Nothing is committed here: the block's writes join the open transaction.
        """
        self._write("SAVEPOINT block")
        try:
            yield
        except BaseException:
            # A failed write has rolled back the whole transaction (``_fail``):
            # then there is no savepoint left to return to.
            with contextlib.suppress(sqlite3.Error):
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK TO block")
                    self._conn.execute("RELEASE block")
            raise
        self._write("RELEASE block")

    def rollback(self) -> None:
        """Drop every write not yet committed."""
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    def close(self) -> None:
        """Commit and close the database."""
        self.commit()
        self._conn.close()
