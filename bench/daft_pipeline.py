# /// script
# requires-python = ">=3.10"
# dependencies = ["daft==0.7.26"]
# ///
"""The Daft pipeline ``bench/daft_overhead.py`` times: generated orders, filter, join, group, sort.

Each stage is a separate Daft query, so the run reports several queries'
progress. ``ROWS`` sets the size (default: about 6 s on a 2-core machine).
"""

import os

import daft
from daft import col

ROWS = int(os.environ.get("ROWS", "5000000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))

regions = daft.from_pydict({"store": list(range(100)), "region": [f"r{i % 7}" for i in range(100)]})
total = 0.0
for round_ in range(ROUNDS):
    orders = daft.range(ROWS).with_columns(
        {"store": (col("id") * 31 + round_) % 100, "amount": ((col("id") * 37) % 1000) / 10.0}
    )
    summary = (
        orders.where(col("amount") >= 10)
        .join(regions, on="store")
        .groupby("region")
        .agg(col("amount").sum().alias("revenue"), col("id").count().alias("orders"))
        .sort("region")
        .to_pydict()
    )
    total += sum(summary["revenue"])
print(f"{ROUNDS} rounds of {ROWS} orders: revenue {total:.1f}")
