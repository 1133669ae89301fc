"""disk: a run waits for room on the run folders' filesystem, and is stopped over its claim."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import Evd, wait_for
from tests.helpers import show, submit


def test_a_run_over_its_disk_is_stopped_with_the_reason(evd: Evd) -> None:
    run_id = submit(
        evd, "--disk", "1MiB", "--", "sh", "-c",
        'head -c 4000000 /dev/zero > "$EVD_OUTPUT_DIR/big"; sync; sleep 60',
    )  # fmt: skip
    assert evd.cli("wait", run_id, timeout=120).returncode != 0
    run = show(evd, run_id)
    assert run["state"] == "failed"
    assert run["reason"].startswith("exceeded its disk limit of 1.0 MiB: its folder held")
    assert run["metrics"]["disk"] > 1024 * 1024
    said = evd.cli("show", run_id, check=True).stdout
    assert "1.0 MiB of disk" in said and "disk 3.8 MiB" in said


def test_a_run_waits_for_room_and_one_that_never_fits_fails(evd: Evd, tmp_path: Path) -> None:
    never = submit(evd, "--disk", "1000000TiB", "--", "true")
    run = show(evd, never)
    assert run["state"] == "failed" and "it can never start on this machine" in run["reason"]

    spec = tmp_path / "big.toml"
    spec.write_text(f'command = "true"\n[resources]\ndisk = {room_plus(evd, 1024**3)}\n')
    waiting = submit(evd, str(spec))
    wait_for(lambda: reason_of(evd, waiting) is not None, timeout=30)
    reason = reason_of(evd, waiting)
    assert reason is not None and reason.startswith("needs ") and "of disk for its folder" in reason
    small = submit(evd, "--disk", "1MiB", "--", "true")  # the others start around it
    assert evd.cli("wait", small, timeout=60).returncode == 0
    assert show(evd, waiting)["state"] == "queued"
    evd.cli("cancel", waiting, check=True)


def room_plus(evd: Evd, extra: int) -> int:
    """More than the free space of the filesystem that holds the run folders."""
    stats = os.statvfs(evd.home)
    return stats.f_bavail * stats.f_frsize + extra


def reason_of(evd: Evd, run_id: str) -> str | None:
    reason = show(evd, run_id).get("reason")
    return reason if isinstance(reason, str) and "disk" in reason else None
