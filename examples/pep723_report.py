# /// script
# requires-python = ">=3.10"
# dependencies = ["tabulate==0.9.0"]
#
# [tool.evd]
# description = "A PEP 723 script: its own dependencies, the file uv run accepts"
# timeout = "5m"
# ///
"""A PEP 723 script: dependencies declared inline, as `uv run` reads them.

Shows that the same file `uv run examples/pep723_report.py` accepts runs under
evd in its own environment, built from the `# /// script` block (the
`[tool.evd]` table adds evd's own settings). It prints a small report table.

    evd run examples/pep723_report.py
"""

import statistics

from tabulate import tabulate

durations = {"build": [0.4, 0.5, 0.45], "import": [0.28, 0.3, 0.26], "query": [0.05, 0.07, 0.06]}
rows = [(step, statistics.mean(times), max(times)) for step, times in durations.items()]
print(tabulate(rows, headers=["step", "mean s", "max s"], floatfmt=".2f"))
