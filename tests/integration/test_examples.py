"""Every top-level example runs under evd with no arguments and succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from evd.models import RunState, SubmitRequest
from tests.conftest import Evd
from tests.helpers import fake_gpus

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


def test_daft_example_returns_the_right_totals_and_its_second_run_reuses_the_env(
    evd: Evd,
) -> None:
    example = next(path for path in EXAMPLES if path.name == "daft_sales.py")
    expected: dict[str, float] = {}
    names = ["north", "south", "east", "west"]
    for order in range(1000):
        amount = float((order * 37) % 100)
        if amount >= 10:
            region = names[order % 4]
            expected[region] = expected.get(region, 0.0) + amount
    with evd.client() as client:
        runs = [
            client.wait(
                client.submit(
                    SubmitRequest(file=str(example), args=["--orders", "1000"], cwd="/")
                ).id,
                timeout=300,
            )
            for _ in range(2)
        ]
        assert [run.state for run in runs] == [RunState.SUCCEEDED] * 2, runs[0].reason
        assert client.result(runs[0].id) == expected
        second = client.get_run(runs[1].id)
    assert second.env_hash == runs[0].env_hash
    assert second.events is not None
    assert RunState.BUILDING not in [event.state for event in second.events]


def test_image_example_gives_each_gpu_worker_its_own_device(evd_env: Evd) -> None:
    fake_gpus(evd_env, 2)
    evd_env.up()
    example = next(path for path in EXAMPLES if path.name == "image_classify.py")
    with evd_env.client() as client:
        request = SubmitRequest(file=str(example), cwd="/", gpus=2, cpus=2)
        run = client.wait(client.submit(request).id, timeout=120)
        log = b"".join(client.logs(run.id)).decode()
        result = client.result(run.id)
    assert run.state is RunState.SUCCEEDED, log
    assert result["accuracy"] > 0.9
    assert sorted(result["workers"]) == ["cpu (NumPy)|0", "cpu (NumPy)|1"], log


def test_text_embedding_example_files_tickets_under_their_topics(evd: Evd) -> None:
    example = next(path for path in EXAMPLES if path.name == "text_embeddings.py")
    with evd.client() as client:
        request = SubmitRequest(file=str(example), args=["--tickets", "2000"], cwd="/")
        run = client.wait(client.submit(request).id, timeout=120)
        assert run.state is RunState.SUCCEEDED, run.reason
        result = client.result(run.id)
    assert result["tickets"] == 2000 and result["accuracy"] > 0.9


def test_fanout_example_adds_up_its_shards_to_the_whole(evd: Evd) -> None:
    example = next(path for path in EXAMPLES if path.name == "fanout.py")
    shards, rows = 3, 1000
    expected: dict[str, float] = {}
    for order in range(shards * rows):
        region = ["north", "south", "east", "west"][order % 4]
        expected[region] = expected.get(region, 0.0) + float((order * 37) % 100)
    with evd.client() as client:
        request = SubmitRequest(
            file=str(example), args=["--shards", str(shards), "--rows", str(rows)], cwd="/"
        )
        run = client.wait(client.submit(request).id, timeout=180)
        log = b"".join(client.logs(run.id)).decode()
        assert run.state is RunState.SUCCEEDED, log
        assert client.result(run.id) == dict(sorted(expected.items()))
        (group,) = client.list_groups()
    assert (group.name, group.size, group.state) == ("fanout-sales", shards, "succeeded")
    assert f"as group g{group.id}" in log
