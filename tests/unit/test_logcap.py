from pathlib import Path

from evd.runner.logcap import cap_log


def test_under_the_cap_nothing_changes(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    log.write_bytes(b"x" * 100)
    assert cap_log(log, 100) == 0
    assert log.read_bytes() == b"x" * 100


def test_over_the_cap_keeps_head_and_tail_and_marks_the_cut(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    lines = b"".join(b"line %06d\n" % i for i in range(10_000))  # 120,000 bytes
    log.write_bytes(lines)
    removed = cap_log(log, 40_000)
    data = log.read_bytes()
    assert removed == len(lines) - 20_000 - 10_000
    assert data.startswith(lines[:20_000])
    assert data.endswith(lines[-10_000:])
    assert b"[evd: log over its cap, %d bytes cut here]" % removed in data
    assert len(data) < 40_000


def test_a_writer_keeps_appending_after_a_cut(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    with open(log, "ab") as job:  # the job's O_APPEND descriptor stays open across the cut
        job.write(b"a" * 1000)
        job.flush()
        cap_log(log, 400)
        job.write(b"END")
    assert log.read_bytes().endswith(b"a" * 100 + b"END")


def test_missing_log_is_fine(tmp_path: Path) -> None:
    assert cap_log(tmp_path / "none.log", 10) == 0
