"""Every top-level example runs under evd with no arguments and succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from evd.models import RunState, SubmitRequest
from tests.conftest import Evd

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(evd: Evd, example: Path) -> None:
    with evd.client() as client:
        run = client.wait(
            client.submit(SubmitRequest(file=str(example), cwd=str(example.parent))).id, timeout=120
        )
        log = b"".join(client.logs(run.id)).decode()
    assert run.state is RunState.SUCCEEDED, log
    assert log.strip()


def test_wordcount_counts(evd: Evd) -> None:
    example = next(path for path in EXAMPLES if path.name == "wordcount.py")
    with evd.client() as client:
        run = client.wait(client.submit(SubmitRequest(file=str(example), cwd="/")).id)
        log = b"".join(client.logs(run.id)).decode()
    assert "chunk 5/5: 100000 words so far" in log
    top = [line.split() for line in log.split("top words:\n")[1].splitlines()]
    assert len(top) == 5 and sum(int(count) for _, count in top) < 100_000
