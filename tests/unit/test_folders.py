"""Run folders made ahead of time: what a placed folder holds, with or without a spare."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evd.runner.folders import OUTPUT_DIR, SPARE_DIR, FolderStock
from evd.runner.shim import LOG_FILE, PID_FILE, read_shim_pid


def wait_for(check: Callable[[], object]) -> None:
    """Until ``check()`` holds (the stock's thread works at its own pace)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("the stock never got there")


def assert_run_folder(path: Path) -> None:
    assert sorted(os.listdir(path)) == sorted([OUTPUT_DIR, LOG_FILE, PID_FILE])
    assert (path / OUTPUT_DIR).is_dir() and not os.listdir(path / OUTPUT_DIR)
    assert (path / LOG_FILE).read_bytes() == b""
    assert read_shim_pid(path) is None  # an empty pid file: a shim that never started


@pytest.fixture
def stock(tmp_path: Path) -> Iterator[FolderStock]:
    stock = FolderStock(tmp_path, size=3)
    stock.start()
    spares = tmp_path / SPARE_DIR
    wait_for(lambda: spares.is_dir() and len(os.listdir(spares)) == 3)
    yield stock
    stock.close()


def test_a_placed_folder_is_a_spare_moved_into_place(stock: FolderStock, tmp_path: Path) -> None:
    spares = tmp_path / SPARE_DIR
    before = set(os.listdir(spares))
    stock.place(tmp_path / "1")
    assert_run_folder(tmp_path / "1")
    assert not before <= set(os.listdir(spares))  # one of them went
    # ... and the stock is filled up again.
    wait_for(lambda: len(os.listdir(spares)) == 3)


def test_a_burst_beyond_the_stock_still_gets_folders(stock: FolderStock, tmp_path: Path) -> None:
    for run_id in range(1, 11):
        stock.place(tmp_path / str(run_id))
    for run_id in range(1, 11):
        assert_run_folder(tmp_path / str(run_id))


def test_without_spares_the_folder_is_made_in_place(tmp_path: Path) -> None:
    FolderStock(tmp_path).place(tmp_path / "7")  # never started: no spares at all
    assert_run_folder(tmp_path / "7")


@pytest.mark.parametrize("started", [True, False])
def test_a_leftover_folder_is_replaced(tmp_path: Path, started: bool) -> None:
    stock = FolderStock(tmp_path, size=1)
    if started:
        stock.start()
        wait_for(lambda: (tmp_path / SPARE_DIR).is_dir() and os.listdir(tmp_path / SPARE_DIR))
    leftover = tmp_path / "3"
    (leftover / "code").mkdir(parents=True)
    (leftover / "code" / "job.py").write_text("print('old')")
    stock.place(leftover)
    assert_run_folder(leftover)
    stock.close()


def test_the_last_daemons_spares_are_cleared_at_start(tmp_path: Path) -> None:
    old = tmp_path / SPARE_DIR / "old"
    old.mkdir(parents=True)
    stock = FolderStock(tmp_path, size=2)
    stock.start()

    def cleared_and_refilled() -> bool:
        try:  # the folder is removed, then made again, on the stock's own thread
            return not old.exists() and len(os.listdir(tmp_path / SPARE_DIR)) == 2
        except FileNotFoundError:
            return False

    wait_for(cleared_and_refilled)
    stock.close()
