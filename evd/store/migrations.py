"""Named schema migrations, applied in order and recorded in ``_migrations``.

Never edit a migration that has shipped: add a new one. ``tests/unit/test_store.py``
opens a database made by the first schema to prove upgrades work.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable


def _0001_runs_and_events(db: sqlite3.Connection) -> None:
    # AUTOINCREMENT so that a pruned run's id is never handed out again: people
    # and scripts keep run ids in notes and shell history.
    db.execute(
        """
        CREATE TABLE runs (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            name        TEXT NOT NULL,
            state       TEXT NOT NULL,
            reason      TEXT,
            exit_code   INTEGER,
            failed_by   TEXT,
            attempts    INTEGER NOT NULL DEFAULT 0,
            command     TEXT NOT NULL,
            cwd         TEXT NOT NULL,
            env         TEXT,
            priority    INTEGER NOT NULL DEFAULT 0,
            timeout     REAL,
            created_at  REAL NOT NULL,
            started_at  REAL,
            ended_at    REAL,
            pid         INTEGER,
            stop_reason TEXT,
            progress    REAL
        )
        """
    )
    db.execute("CREATE INDEX runs_state ON runs (state)")
    db.execute(
        """
        CREATE TABLE run_events (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id  INTEGER NOT NULL,
            state   TEXT NOT NULL,
            reason  TEXT,
            at      REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX run_events_run ON run_events (run_id)")


def _0002_environments_and_volumes(db: sqlite3.Connection) -> None:
    # A run's declaration as evd resolved it at submit (file, function, settings,
    # env, volumes with their versions; never secret values), and its venv.
    db.execute("ALTER TABLE runs ADD COLUMN spec TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN env_hash TEXT")
    db.execute("CREATE INDEX runs_env_hash ON runs (env_hash)")
    db.execute(
        """
        CREATE TABLE envs (
            hash          TEXT PRIMARY KEY,
            python        TEXT NOT NULL,
            requirements  TEXT NOT NULL,
            size          INTEGER NOT NULL,
            build_seconds REAL NOT NULL,
            built_at      REAL NOT NULL,
            last_used_at  REAL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE volumes (
            name       TEXT PRIMARY KEY,
            path       TEXT NOT NULL,
            created_at REAL NOT NULL
        )
        """
    )


def _0003_resources(db: sqlite3.Connection) -> None:
    # What a run asked for (cpus, memory, gpus, gpu_memory) and the devices it got.
    db.execute("ALTER TABLE runs ADD COLUMN resources TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN gpus TEXT")


def _0004_policies(db: sqlite3.Connection) -> None:
    # Retries, restart, dependencies, queue timeout; and the attempt a run waits to make.
    db.execute("ALTER TABLE runs ADD COLUMN policy TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN retry TEXT")


def _0005_metrics(db: sqlite3.Connection) -> None:
    # A run's peaks (CPU, memory of its process tree, GPU memory); the series is a file.
    db.execute("ALTER TABLE runs ADD COLUMN metrics TEXT")


def _0006_groups(db: sqlite3.Connection) -> None:
    # A fan-out (`evd run --map`, `job.map`): one run per item, all in one group.
    db.execute(
        """
        CREATE TABLE groups (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            name       TEXT NOT NULL,
            size       INTEGER NOT NULL,
            created_at REAL NOT NULL,
            spec       TEXT,
            parent_run INTEGER  -- the run that made it (job.map in a job), if any
        )
        """
    )
    db.execute("ALTER TABLE runs ADD COLUMN group_id INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN group_index INTEGER")
    db.execute("CREATE INDEX runs_group ON runs (group_id)")
    db.execute("CREATE INDEX groups_parent ON groups (parent_run)")


def _0007_watches(db: sqlite3.Connection) -> None:
    # Watched folders, and every file picked up from one: the row is written in the
    # same commit as the file's run, so a file is run exactly once across restarts.
    db.execute(
        """
        CREATE TABLE watches (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            dir        TEXT NOT NULL,
            pattern    TEXT NOT NULL,
            options    TEXT NOT NULL,  -- the run options (SubmitRequest fields) as JSON
            created_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE watch_files (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            watch_id  INTEGER NOT NULL,
            dir       TEXT NOT NULL,  -- the folder, so a file is filed even after `watch rm`
            name      TEXT NOT NULL,
            identity  TEXT NOT NULL,  -- device, inode, size, mtime when picked up
            run_id    INTEGER NOT NULL,
            picked_at REAL NOT NULL,
            filed_at  REAL,
            filed_to  TEXT
        )
        """
    )
    db.execute("CREATE INDEX watch_files_open ON watch_files (watch_id, filed_at)")
    db.execute("CREATE INDEX watch_files_run ON watch_files (run_id)")


def _0008_schedules(db: sqlite3.Connection) -> None:
    # Schedules live here, not in a pickled job store: the next fire time is data
    # evd reads at start to apply its misfire policy.
    db.execute(
        """
        CREATE TABLE schedules (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            spec          TEXT NOT NULL,   -- cron expression or `every 10s`
            request       TEXT NOT NULL,   -- the SubmitRequest each fire submits, as JSON
            overlap       TEXT NOT NULL,   -- skip | queue
            misfire_grace REAL NOT NULL,
            paused        INTEGER NOT NULL DEFAULT 0,
            created_at    REAL NOT NULL,
            next_fire_at  REAL,
            last_fire_at  REAL,
            last_run_id   INTEGER,
            pending       INTEGER NOT NULL DEFAULT 0,  -- a fire queued behind the last run
            fires         INTEGER NOT NULL DEFAULT 0,
            note          TEXT
        )
        """
    )


def _0009_result_cache(db: sqlite3.Connection) -> None:
    # A run that may be served from the result cache carries its key (so identical
    # runs in flight can find each other); one that was names the run whose result it
    # took. An entry goes with the run that made it (pruned: a miss, never a dangling hit).
    db.execute("ALTER TABLE runs ADD COLUMN cache_key TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN cached_from INTEGER")
    db.execute("CREATE INDEX runs_cache_key ON runs (cache_key) WHERE cache_key IS NOT NULL")
    db.execute(
        """
        CREATE TABLE cache (
            key         TEXT PRIMARY KEY,
            run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            created_at  REAL NOT NULL,
            hits        INTEGER NOT NULL DEFAULT 0,
            last_hit_at REAL
        )
        """
    )
    db.execute("CREATE INDEX cache_run ON cache (run_id)")


def _0010_labels(db: sqlite3.Connection) -> None:
    # A run's labels are in its spec (for showing it); this table finds runs by label.
    db.execute(
        """
        CREATE TABLE run_labels (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            key    TEXT NOT NULL,
            value  TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX run_labels_by_label ON run_labels (key, value, run_id)")


def _0011_run_durations(db: sqlite3.Connection) -> None:
    # What run-time estimates learn from: how long succeeded runs of each kind took.
    db.execute(
        """
        CREATE TABLE run_durations (
            run_id  INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
            alike   TEXT NOT NULL,
            seconds REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX run_durations_by_kind ON run_durations (alike, run_id)")


def _0012_attempt_devices(db: sqlite3.Connection) -> None:
    # The GPUs each attempt ran on (on its ``running`` event; a run's own ``gpus`` are its
    # latest attempt's), and the recent ends: what the GPU timeline reads.
    db.execute("ALTER TABLE run_events ADD COLUMN gpus TEXT")
    db.execute("CREATE INDEX runs_ended ON runs (ended_at)")


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("0001_runs_and_events", _0001_runs_and_events),
    ("0002_environments_and_volumes", _0002_environments_and_volumes),
    ("0003_resources", _0003_resources),
    ("0004_policies", _0004_policies),
    ("0005_metrics", _0005_metrics),
    ("0006_groups", _0006_groups),
    ("0007_watches", _0007_watches),
    ("0008_schedules", _0008_schedules),
    ("0009_result_cache", _0009_result_cache),
    ("0010_labels", _0010_labels),
    ("0011_run_durations", _0011_run_durations),
    ("0012_attempt_devices", _0012_attempt_devices),
]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded, each in a transaction; return the names applied.

    ``db`` is in autocommit mode (evd's connection): each migration and its
    record commit together, so a failed one leaves the schema as it was.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    done = {name for (name,) in db.execute("SELECT name FROM _migrations")}
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [name, time.time()]
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        applied.append(name)
    return applied
