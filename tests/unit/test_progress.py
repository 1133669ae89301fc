"""Progress bookkeeping: Daft's events to a fraction, device leases, tqdm bars, the reader."""

import json
import os
import types
from pathlib import Path

from evd.daemon.monitor.progress import ProgressReader, bar_progress
from evd.sdk.daft_hooks import DeviceLeases, QueryProgress, gpus_of, on_udf_v2

PLAN = {
    "id": 2,
    "name": "GroupedAggregate",
    "approx_stats": {"approx_stats": {"num_rows": 10}},
    "children": [
        {
            "id": 1,
            "name": "Filter",
            "approx_stats": {"approx_stats": {"num_rows": 400}},
            "children": [
                {"id": 0, "name": "Scan", "approx_stats": {"approx_stats": {"num_rows": 1000}}}
            ],
        }
    ],
}


def test_a_querys_progress_is_the_mean_of_its_operators() -> None:
    query = QueryProgress()
    query.start_query()
    assert query.fraction() == 0.0  # no plan yet
    query.plan(json.dumps(PLAN))
    query.stats({0: {"rows.out": ("COUNT", 500)}, 1: {"rows.in": ("COUNT", 250)}})
    # Scan 500/1000, Filter 250 of the scan's 1000, the aggregate nothing of the filter's 400.
    assert query.fraction() == (0.5 + 0.25 + 0.0) / 3
    assert query.current() == ("Scan", 500)
    query.finish(0)
    query.stats({0: {"rows.out": ("COUNT", 1000)}, 1: {"rows.in": ("COUNT", 5000)}})
    assert query.fraction() == (1 + 0.99 + 0) / 3  # an estimate overrun stops short of done
    assert query.fields()["operator"] == "Filter" and query.fields()["query"] == 1
    query.start_query()
    assert (query.queries, query.fraction()) == (2, 0.0)


def test_each_worker_gets_the_least_used_devices() -> None:
    leases = DeviceLeases(["3", "5"])
    assert leases.lease(1) == ["3"]
    assert leases.lease(1) == ["5"]
    assert leases.lease(1) == ["3"] and leases.warned  # more workers than devices: shared
    halves = DeviceLeases(["0", "1"])
    assert [halves.lease(0.5) for _ in range(4)] == [["0"], ["1"], ["0"], ["1"]]
    assert DeviceLeases(["0", "1", "2"]).lease(2) == ["0", "1"]


def test_a_finished_worker_gives_its_device_back() -> None:
    class Ended:
        def poll(self) -> int:
            return 0

    leases = DeviceLeases(["0", "1"])
    assert leases.lease(1) == ["0"]
    leases.started(Ended())
    assert leases.lease(1) == ["0"]  # the first worker is gone


def test_udfs_are_known_by_their_call_id() -> None:
    built = []
    module = types.ModuleType("daft.udf.udf_v2")
    module.row_wise_udf = lambda *args, **kwargs: built.append(args) or "expr"  # type: ignore[attr-defined]
    on_udf_v2(module)
    args = ("__main__.Model.__call__-4242-0", "Model", None, None, False, False, None, None, 1.0)
    assert module.row_wise_udf(*args) == "expr" and built == [args]  # type: ignore[attr-defined]
    assert gpus_of("__main__.Model.__call__-4242-0(col(0: x)) as y") == 1.0
    assert gpus_of("__main__.Other.__call__-1-0(col(0: x))") is None


def test_tqdm_bars_are_read_from_output() -> None:
    output = b"loading\r 10%|#  | 10/100 [00:01<00:09]\r 45%|####5 | 45/100 [00:02<00:03, 22it/s]"
    assert bar_progress(output) == {"progress": 0.45, "source": "output", "done": 45, "total": 100}
    assert bar_progress(b" 7%|         | 1.2k/17.0k [00:01<00:14]")["total"] == 17000  # type: ignore[index]
    assert bar_progress(b"no bar here, 45% done") is None


def test_the_reader_reports_changes_only_and_prefers_the_jobs_own_file(tmp_path: Path) -> None:
    reader = ProgressReader()
    (tmp_path / "output.log").write_bytes(b" 20%|##   | 2/10 [00:01<00:04]\r")
    assert reader.read({1: tmp_path}) == {
        1: {"progress": 0.2, "source": "output", "done": 2, "total": 10}
    }
    assert reader.read({1: tmp_path}) == {}  # nothing new
    (tmp_path / "progress.json").write_text(json.dumps({"progress": 0.5, "source": "sdk", "at": 1}))
    assert reader.read({1: tmp_path}) == {1: {"progress": 0.5, "source": "sdk"}}
    with open(tmp_path / "output.log", "ab") as log:
        log.write(b" 90%|#########| 9/10 [00:04<00:01]\r")
    os.utime(tmp_path / "progress.json", (0, 0))
    (tmp_path / "progress.json").write_text("{not json")
    assert reader.read({1: tmp_path}) == {}  # the job reports itself: its output is not read
    assert reader.read({}) == {} and reader.read({1: tmp_path}) != {}  # a new run starts afresh
