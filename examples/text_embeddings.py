"""Text embeddings with a real model fitted in the job: TF-IDF + SVD (LSA) over Daft.

Shows a model UDF in a Daft pipeline with nothing downloaded at run time: the
job generates a corpus of short support tickets on four topics, fits a
scikit-learn TF-IDF vectoriser and a truncated SVD to 32 dimensions (latent
semantic analysis), and embeds every ticket with a `@daft.cls` UDF that holds
the fitted model (each UDF worker builds it once). It then files each ticket
under the topic whose centroid is nearest and reports how many landed on
their true topic. `evd show` reports the query's progress while it runs.

    evd run examples/text_embeddings.py            # or: ... --tickets 20000
"""

import random

import daft
import numpy as np
from daft import DataType, col
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline

from evd import Env, Job

env = Env("3.11").pip_install(["daft==0.7.26", "scikit-learn==1.7.2", "numpy"])
env.environ["DAFT_PROGRESS_BAR"] = "0"
job = Job("text-embeddings", env, cpus=1, timeout="10m", description="TF-IDF + SVD embeddings")

TOPICS = {
    "billing": "invoice refund charge card payment billed twice subscription price receipt",
    "login": "password reset login locked account two factor code email sign session",
    "gpu": "cuda driver gpu memory out of kernel device nvidia training crash",
    "shipping": "parcel delivery courier tracking address late package warehouse shipped",
}
FILLER = [
    "please",
    "help",
    "today",
    "urgent",
    "thanks",
    "hello",
    "team",
    "issue",
    "again",
    "since",
    "yesterday",
]
DIMENSIONS = 32


def make_tickets(count: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """``count`` generated tickets and their true topics (with a stray word from another)."""
    rng = random.Random(seed)
    texts, topics = [], []
    for _ in range(count):
        topic = rng.choice(sorted(TOPICS))
        stray = rng.choice([name for name in TOPICS if name != topic])
        words = rng.sample(TOPICS[topic].split(), 2) + rng.sample(TOPICS[stray].split(), 1)
        words += rng.sample(FILLER, 3)
        rng.shuffle(words)
        texts.append(" ".join(words))
        topics.append(topic)
    return texts, topics


def fit(texts: list[str]) -> object:
    """TF-IDF then SVD, fitted on ``texts``: the embedding model."""
    model = make_pipeline(TfidfVectorizer(), TruncatedSVD(DIMENSIONS, random_state=0))
    return model.fit(texts)


@daft.cls(max_concurrency=1)
class Embedder:
    """Embeds text with the fitted model, normalised to unit length."""

    def __init__(self, sample: list[str]) -> None:
        self.model = fit(sample)

    @daft.method.batch(return_dtype=DataType.embedding(DataType.float32(), DIMENSIONS))
    def __call__(self, text: daft.Series) -> np.ndarray:
        vectors = self.model.transform(text.to_pylist()).astype(np.float32)  # type: ignore[attr-defined]
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


@job.main()
def main(tickets: int = 4000) -> dict[str, float]:
    """Embed the tickets, file each under the nearest topic centroid, score the filing."""
    texts, topics = make_tickets(tickets)
    embed = Embedder(texts[:1000])  # fitted on a sample, as one would on real data
    df = daft.from_pydict({"text": texts, "topic": topics})
    df = df.with_column("vector", embed(col("text"))).collect()
    vectors = np.stack(df.to_pydict()["vector"])
    truth = np.array(df.to_pydict()["topic"])
    names = sorted(TOPICS)
    centroids = np.stack([vectors[truth == name].mean(axis=0) for name in names])
    filed = np.array(names)[np.argmax(vectors @ centroids.T, axis=1)]
    accuracy = float((filed == truth).mean())
    print(f"embedded {len(texts)} tickets into {DIMENSIONS} dimensions")
    print(f"filed under the nearest topic centroid: {accuracy:.1%} on their true topic")
    return {"tickets": float(len(texts)), "accuracy": round(accuracy, 4)}
