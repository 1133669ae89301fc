"""Daft ETL in the ev style: an isolated env, a job, and a result.

Shows the seed-style declarations (`Env("3.11").pip_install([...])`, `Job`,
`@job.main()`): evd reads them without running the job (the top-level
`import daft` is fine: evd reads declarations without Daft installed), builds a
uv venv with Daft for this file, reused by every later run, and calls `main`
there on Daft's native runner. The data is generated in the job (no
downloads): orders are filtered, joined to their regions and aggregated. `main`
returns the totals, which `evd result ID` prints as JSON. The same file runs on
the ev platform unchanged (`from ev import ...` works too).

    evd run examples/daft_sales.py        # or: evd run examples/daft_sales.py --orders 50000
"""

import daft
from daft import col

from evd import Env, Job

env = Env("3.11").pip_install(["daft==0.7.26"])
env.environ["DAFT_PROGRESS_BAR"] = "0"
job = Job("daft-sales", env, cpus=1, timeout="10m", description="Daft ETL on generated orders")


@job.main()
def main(orders: int = 20_000) -> dict[str, float]:
    """Total revenue per region of the orders worth at least 10."""
    names = ["north", "south", "east", "west"]
    regions = daft.from_pydict({"store": list(range(len(names))), "region": names})
    sales = daft.range(orders).select(
        col("id").alias("order"),
        (col("id") % len(names)).alias("store"),
        ((col("id") * 37) % 100).cast(daft.DataType.float64()).alias("amount"),
    )
    totals = (
        sales.where(col("amount") >= 10)
        .join(regions, on="store")
        .groupby("region")
        .agg(col("amount").sum().alias("revenue"), col("order").count().alias("orders"))
        .sort("region")
    )
    table = totals.to_pydict()
    rows = zip(table["region"], table["revenue"], table["orders"], strict=True)
    for region, revenue, count in rows:
        print(f"{region:>6}: {count:6d} orders, revenue {revenue:12.2f}")
    return dict(zip(table["region"], table["revenue"], strict=True))
