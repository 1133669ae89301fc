"""Fan-out with `job.map`: one run per shard in a group, then one answer.

`evd run examples/fanout.py` starts the coordinating run. Its `main` calls
`job.map([...])`, which asks evd for one run of this same job per shard, all in
one group: `evd ps` shows the group's progress, `evd show gID` its runs, and
`evd cancel gID` stops them all. Each shard run makes its slice of a generated
orders table with Daft and totals it by region; the coordinator waits for the
group (`.results()` lists each run's returned value in item order), adds the
partial totals up and returns them. Shard runs ask for half a CPU each, so a
small machine runs several at once. The same shape serves any job that splits
into independent parts: files, seeds, hyper-parameters. From a shell the same
fan-out is `evd run --map shards.jsonl examples/fanout.py`, one JSON object of
arguments per line (`{"shard": 0}`).

    evd run examples/fanout.py              # or: evd run examples/fanout.py --shards 8
"""

import daft
from daft import col

from evd import Env, Job

env = Env("3.11").pip_install(["daft==0.7.26"])
env.environ["DAFT_PROGRESS_BAR"] = "0"
job = Job("fanout-sales", env, cpus=0.5, timeout="10m", description="Daft totals by shard")

REGIONS = ["north", "south", "east", "west"]


def region_totals(first: int, last: int) -> dict[str, float]:
    """Revenue per region of orders ``first`` to ``last - 1`` (generated, no downloads)."""
    orders = daft.range(first, last).select(
        (col("id") % len(REGIONS)).alias("store"),
        ((col("id") * 37) % 100).cast(daft.DataType.float64()).alias("amount"),
    )
    table = orders.groupby("store").agg(col("amount").sum().alias("revenue")).to_pydict()
    return {
        REGIONS[store]: revenue
        for store, revenue in zip(table["store"], table["revenue"], strict=True)
    }


@job.main()
def main(shard: int = -1, shards: int = 4, rows: int = 50_000) -> dict[str, float]:
    """With ``shard``: that shard's totals. Without: fan out over all shards and add up."""
    if shard >= 0:
        part = region_totals(shard * rows, (shard + 1) * rows)
        print(f"shard {shard}: {rows} orders, {len(part)} regions")
        return part
    group = job.map([{"shard": index, "rows": rows} for index in range(shards)])
    print(f"fanned out {shards} shards as group g{group.id} (runs {group.run_ids})", flush=True)
    totals: dict[str, float] = {}
    for part in group.results():
        for region, revenue in part.items():
            totals[region] = totals.get(region, 0.0) + revenue
    for region in sorted(totals):
        print(f"{region:>6}: revenue {totals[region]:12.2f}")
    return dict(sorted(totals.items()))
