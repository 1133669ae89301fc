"""Word count: a plain Python job with no declarations.

Shows the simplest thing evd runs: a script with no `Env` or `Job` in it runs as
`python FILE`. It generates a deterministic corpus (no downloads), counts the
words, prints the five most common with a progress line per chunk, and exits 0.

    evd run examples/wordcount.py
"""

import collections
import random

WORDS = ["gpu", "queue", "daemon", "shim", "run", "log", "cancel", "retry", "daft", "ray"]
CHUNKS = 5


def main() -> None:
    rng = random.Random(42)
    counts: collections.Counter[str] = collections.Counter()
    for chunk in range(1, CHUNKS + 1):
        text = " ".join(rng.choice(WORDS) for _ in range(20_000))
        counts.update(text.split())
        print(f"chunk {chunk}/{CHUNKS}: {sum(counts.values())} words so far", flush=True)
    print("top words:")
    for word, count in counts.most_common(5):
        print(f"  {word:8} {count}")


if __name__ == "__main__":
    main()
