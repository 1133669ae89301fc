"""How runs are printed for people: the tables' short command, progress lines."""

from evd.cli.output import progress_bar
from evd.describe import describe_progress, short_command


def test_tables_show_the_job_file_not_evds_launcher() -> None:
    launcher = ["/envs/abc/bin/python", "-m", "evd.sdk.launch", "/runs/3/code/wordcount.py"]
    assert short_command([*launcher, "-", "--", "--top", "5"]) == "wordcount.py --top 5"
    assert short_command([*launcher, "main", "--path", "/src", "--"]) == "wordcount.py:main"
    assert short_command(["sleep", "30"]) == "sleep 30"


def test_progress_is_described_from_what_was_reported() -> None:
    daft = {"source": "daft", "query": 2, "operator": "Filter", "rows": 66667}
    assert describe_progress(0.42, daft) == "42% (query 2: Filter, 66,667 rows)"
    assert describe_progress(0.3, {"done": 3, "total": 10, "message": "epoch 3"}) == (
        "30% (3/10, epoch 3)"
    )
    assert progress_bar(0.5, {}, width=10) == "[#####.....] 50%"
