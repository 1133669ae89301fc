"""Word counts of a corpus less its stop words, with Daft: the job behind corpus_stats.toml.

It reads what evd staged for it (``EVD_INPUT_CORPUS``, ``EVD_INPUT_STOPWORDS``)
and writes its counts under ``EVD_OUTPUT_DIR``; it fetches nothing itself (the
spec runs it with ``network = "none"``), and evd publishes what it wrote.
"""

import os
from pathlib import Path

import daft
from daft import col

from evd import Env, Job

env = Env("3.11").pip_install(["daft==0.7.26"])
env.environ["DAFT_PROGRESS_BAR"] = "0"
job = Job("corpus-stats", env, cpus=1, timeout="10m")


@job.main()
def main(top: int = 5) -> dict[str, int]:
    """The ``top`` most frequent words that are not stop words, with their counts."""
    lines = Path(os.environ["EVD_INPUT_CORPUS"]).read_text().splitlines()
    stop = daft.read_csv(os.environ["EVD_INPUT_STOPWORDS"])  # a header: word
    words = (
        daft.from_pydict({"line": lines})
        .select(col("line").lower().split(" ").alias("word"))
        .explode("word")
        .where(col("word") != "")
    )
    counts = (
        words.join(stop, on="word", how="anti")
        .groupby("word")
        .agg(col("word").count().alias("count"))
        .sort(["count", "word"], desc=[True, False])
    )
    out = Path(os.environ["EVD_OUTPUT_DIR"]) / "counts"
    counts.write_csv(str(out))
    table = counts.limit(top).to_pydict()
    for word, count in zip(table["word"], table["count"], strict=True):
        print(f"{word:>10} {count}")
    return dict(zip(table["word"], table["count"], strict=True))
