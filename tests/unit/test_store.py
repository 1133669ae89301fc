import sqlite3
from pathlib import Path

import pytest

from evd.errors import StorageError
from evd.models import FailedBy, RunState
from evd.store import Store


def add(store: Store, name: str = "job", now: float = 1.0) -> int:
    run_id, _ = store.insert_run(
        name=name,
        command=["echo", "hi"],
        cwd="/",
        env={"A": "1"},
        priority=0,
        timeout=None,
        now=now,
        reason=None,
    )
    return run_id


def test_migrations_are_recorded_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "evd.db"
    every = [
        "0001_runs_and_events",
        "0002_environments_and_volumes",
        "0003_resources",
        "0004_policies",
        "0005_metrics",
        "0006_groups",
        "0007_watches",
        "0008_schedules",
        "0009_result_cache",
        "0010_labels",
        "0011_run_durations",
        "0012_attempt_devices",
    ]
    assert Store(path).applied_migrations == every
    assert Store(path).applied_migrations == []
    names = [row[0] for row in sqlite3.connect(path).execute("SELECT name FROM _migrations")]
    assert names == every


def test_uses_wal(tmp_path: Path) -> None:
    Store(tmp_path / "evd.db")
    mode = sqlite3.connect(tmp_path / "evd.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_every_transition_is_an_event_and_the_current_state(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    run_id = add(store)
    store.transition(run_id, RunState.RUNNING, None, 2.0, pid=42, started_at=2.0, attempts=1)
    store.transition(
        run_id,
        RunState.FAILED,
        "exited with code 3",
        3.0,
        exit_code=3,
        failed_by=FailedBy.USER,
        ended_at=3.0,
    )
    store.commit()
    run = store.get_run(run_id)
    assert run is not None
    assert (run.state, run.exit_code, run.failed_by, run.pid, run.attempts) == (
        RunState.FAILED,
        3,
        FailedBy.USER,
        42,
        1,
    )
    assert run.command == ["echo", "hi"] and run.env == {"A": "1"}
    assert [(e.state, e.reason, e.at) for e in store.events(run_id)] == [
        (RunState.QUEUED, None, 1.0),
        (RunState.RUNNING, None, 2.0),
        (RunState.FAILED, "exited with code 3", 3.0),
    ]


def test_committed_writes_survive_reopening_and_uncommitted_do_not(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    kept = add(store, "kept")
    store.commit()
    add(store, "not committed")
    assert store.dirty
    store._conn.close()  # a crash: no commit
    reopened = Store(tmp_path / "evd.db")
    assert [run.name for run in reopened.list_runs()] == ["kept"]
    assert reopened.get_run(kept) is not None


def test_pruned_ids_are_never_reused(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    first = add(store)
    store.delete_runs([first])
    assert add(store) == first + 1
    assert store.events(first) == []


def test_list_filters_by_state_newest_first_with_limit(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    ids = [add(store, f"r{i}") for i in range(4)]
    store.transition(ids[1], RunState.SUCCEEDED, None, 5.0, ended_at=5.0)
    assert [r.id for r in store.list_runs([RunState.QUEUED])] == [ids[3], ids[2], ids[0]]
    assert [r.id for r in store.list_runs(limit=2)] == [ids[3], ids[2]]
    assert store.finished_before(6.0, [RunState.SUCCEEDED]) == [ids[1]]
    assert store.finished_before(4.0, [RunState.SUCCEEDED]) == []


def test_events_after_resumes_a_stream(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    run_id = add(store)
    mark = store.last_event_id()
    store.transition(run_id, RunState.RUNNING, None, 2.0)
    assert [e.state for e in store.events_after(mark)] == [RunState.RUNNING]


def test_refuses_to_update_unknown_columns(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    with pytest.raises(ValueError, match="not updatable"):
        store.update(add(store), created_at=0.0)


def fill_to_the_brim(store: Store) -> None:
    """Cap the database near its size: writes then fail with SQLITE_FULL, as on a full disk."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")


def test_a_full_disk_rolls_back_and_says_what_to_do(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    kept = add(store, "kept")
    store.commit()
    fill_to_the_brim(store)
    with pytest.raises(StorageError, match="is full") as caught:
        for _ in range(100):
            store.insert_run(
                name="big",
                command=["x" * 4000],
                cwd="/",
                env=None,
                priority=0,
                timeout=None,
                now=2.0,
                reason=None,
            )
            store.commit()
    assert "evd prune" in str(caught.value)
    assert not store.dirty  # nothing half-written is left to be committed later
    assert [run.id for run in store.list_runs() if run.name == "kept"] == [kept]
    store._conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    assert add(store, "after") > kept
    store.commit()


def test_a_group_lists_its_runs_in_item_order_and_goes_with_its_last_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    group = store.insert_group(name="sq", size=3, created_at=1.0, spec={"kind": "job"})
    other = add(store, "alone")
    ids = []
    for index in (2, 0, 1):
        run_id, _ = store.insert_run(
            name=f"sq[{index}]", command=["true"], cwd="/", env=None, priority=0, timeout=None,
            now=2.0, reason=None, group_id=group, group_index=index,
        )  # fmt: skip
        ids.append(run_id)
    store.commit()
    assert [run.group_index for run in store.group_runs(group)] == [0, 1, 2]
    assert {run.id for run in store.list_runs(group_id=group)} == set(ids)
    assert [g.id for g in store.list_groups([RunState.QUEUED])] == [group]
    for run_id in ids:
        store.transition(run_id, RunState.SUCCEEDED, None, 3.0, ended_at=3.0)
    assert store.list_groups([RunState.QUEUED]) == []
    store.delete_runs(ids[:2])
    assert store.get_group(group) is not None  # one run left
    store.delete_runs(ids[2:])
    assert store.get_group(group) is None and store.get_run(other) is not None


def test_a_cached_result_serves_while_its_run_stands_succeeded(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    made, failed = add(store, "made"), add(store, "failed")
    store.transition(made, RunState.SUCCEEDED, None, 2.0, exit_code=0)
    store.transition(failed, RunState.FAILED, "exit 1", 2.0, exit_code=1)
    store.put_cached("k1", made, 3.0)
    store.put_cached("k2", failed, 3.0)
    store.commit()
    entry = store.cached("k1")
    assert entry is not None and (entry.run_id, entry.hits) == (made, 0)
    assert store.cached("k2") is None  # only a succeeded run's result serves
    assert store.cached("nope") is None
    store.note_cache_hit("k1", 4.0)
    listed = {e.key: e for e in store.list_cached()}
    assert (listed["k1"].hits, listed["k1"].last_hit_at) == (1, 4.0)
    assert store.cached_before(3.5) == ["k2"]  # k1 was used at 4.0
    assert store.forget_cached(["k2", "missing"]) == 1
    store.delete_runs([made])  # a pruned run's entry goes with it
    store.commit()
    assert store.list_cached() == []


def test_identical_runs_in_flight_are_found_by_their_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "evd.db")
    first, _, second = (
        store.insert_run(
            name="job", command=["true"], cwd="/", env=None, priority=0, timeout=None,
            now=1.0, reason=None, cache_key=key,
        )[0]
        for key in ("k", None, "k")
    )  # fmt: skip
    record = store.get_run(first)
    assert record is not None and record.cache_key == "k" and record.cached_from is None
    store.update(second, cached_from=first)
    assert store.runs_with_key("k", [RunState.QUEUED]) == [first, second]
    assert store.get_run(second).cached_from == first  # type: ignore[union-attr]
