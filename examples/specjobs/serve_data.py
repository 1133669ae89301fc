"""The data corpus_stats.toml reads, served from this machine: a web server and S3 (moto).

    python examples/specjobs/serve_data.py      # then, in another shell:
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test evd run examples/corpus_stats.toml

It serves ``corpus.txt`` on http://127.0.0.1:8642/ and puts ``stopwords.csv``
in the bucket ``evd-examples`` of an S3 server on http://127.0.0.1:5042 (moto,
installed with evd's dev extras), where the job's counts are published too.
Ctrl-C stops both.
"""

from __future__ import annotations

import functools
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WEB_PORT = 8642
S3_PORT = 5042
BUCKET = "evd-examples"
STOPWORDS = ["the", "a", "of", "and", "to", "in"]
WORDS = [*STOPWORDS, "data", "gpu", "queue", "job", "run", "evd", "daft", "spec", "cache"]


def corpus() -> bytes:
    """Ten thousand lines of words, the same every time (their SHA-256 is in the spec)."""
    rng = random.Random(21)
    lines = (" ".join(rng.choices(WORDS, k=12)) for _ in range(10_000))
    return ("\n".join(lines) + "\n").encode()


def stopwords() -> bytes:
    """The stop words as a CSV with a ``word`` header."""
    return ("word\n" + "\n".join(STOPWORDS) + "\n").encode()


def put(endpoint: str, bucket: str, key: str, data: bytes) -> None:
    """Make the bucket if needed and put one object (moto takes unsigned requests)."""
    for url, body in ((f"{endpoint}/{bucket}", None), (f"{endpoint}/{bucket}/{key}", data)):
        # Not urllib's default form type, which the server would read as form fields.
        headers = {"Content-Type": "application/octet-stream"}
        request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
        urllib.request.urlopen(request, timeout=30).close()


def main() -> None:
    """Serve until interrupted."""
    folder = Path(tempfile.mkdtemp(prefix="evd-example-data-"))
    (folder / "corpus.txt").write_bytes(corpus())
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    web = ThreadingHTTPServer(("127.0.0.1", WEB_PORT), handler)
    s3 = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(S3_PORT)])
    endpoint = f"http://127.0.0.1:{S3_PORT}"
    for _ in range(100):
        try:
            put(endpoint, BUCKET, "stopwords.csv", stopwords())
            break
        except OSError:
            time.sleep(0.2)
    print(f"serving http://127.0.0.1:{WEB_PORT}/corpus.txt and s3://{BUCKET} at {endpoint}")
    try:
        web.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        s3.terminate()


if __name__ == "__main__":
    main()
