"""A model loaded once and kept warm: many runs, one load.

``reusable=Reuse(...)`` hands every run of this job to a worker process that
loaded this file once; what the file keeps at module level stays between runs.
The model below (a small naive Bayes sentiment classifier) is fitted in the
job from sentences it makes, no download, behind ``functools.cache``: the first
run on a worker pays for fitting it, every later run finds it fitted::

    evd run examples/warm_model.py --text "a great and moving film"   # fits the model
    evd run examples/warm_model.py --text "a dull, tedious film"      # warm: milliseconds
    evd workers                      # the worker: idle, holding its CPU, retires after 10m

Each run still has its own log, result, timeout and cancel (``evd result ID``).
"""

from __future__ import annotations

import functools
import math
import os
import random
import time
from collections import Counter

from evd import Job, Reuse

job = Job("warm-model", cpus=1, reusable=Reuse(idle_ttl="10m", replicas=1))

GOOD = [
    "great", "moving", "brilliant", "warm", "funny", "clever", "lovely", "superb", "gripping",
]  # fmt: skip
BAD = [
    "dull", "tedious", "clumsy", "boring", "flat", "awful", "lifeless", "bland", "messy",
]  # fmt: skip
PLAIN = [
    "a", "the", "film", "story", "cast", "and", "plot", "with", "an", "its", "of", "was", "is",
]  # fmt: skip


def sentences(count: int, seed: int = 7) -> list[tuple[list[str], str]]:
    """Labelled sentences: plain words with a few telling ones (and some noise)."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        label = rng.choice(("good", "bad"))
        telling, other = (GOOD, BAD) if label == "good" else (BAD, GOOD)
        words = rng.choices(PLAIN, k=8) + rng.choices(telling, k=3) + rng.choices(other, k=1)
        made.append((words, label))
    return made


@functools.cache
def model() -> dict[str, dict[str, float]]:
    """Log-probabilities of each word per label, fitted once per worker process."""
    started = time.perf_counter()
    counts = {"good": Counter[str](), "bad": Counter[str]()}
    for words, label in sentences(60_000):
        counts[label].update(words)
    vocabulary = set(counts["good"]) | set(counts["bad"])
    fitted = {}
    for label, seen in counts.items():
        total = sum(seen.values()) + len(vocabulary)
        fitted[label] = {word: math.log((seen[word] + 1) / total) for word in vocabulary}
    print(f"fitted the model in {time.perf_counter() - started:.2f} s (pid {os.getpid()})")
    return fitted


@job.main()
def main(text: str = "a great and moving film") -> dict[str, object]:
    """Classify ``text``; the model is fitted on the first call of this worker only."""
    fitted = model()
    words = [word.strip(".,!?").lower() for word in text.split()]
    scores = {label: sum(logp.get(w, 0.0) for w in words) for label, logp in fitted.items()}
    label = max(scores, key=scores.__getitem__)
    print(f"{text!r}: {label} (worker {os.environ.get('EVD_WORKER_ID')}, pid {os.getpid()})")
    return {"label": label, "worker": os.environ.get("EVD_WORKER_ID"), "pid": os.getpid()}
