"""examples/corpus_stats.toml end to end against local servers: staged, run offline, published."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tomllib
from collections import Counter
from pathlib import Path
from types import ModuleType

from tests.conftest import Evd
from tests.dataservers import http_files, s3_client, s3_server
from tests.helpers import show

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def serve_data() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serve_data", EXAMPLES / "specjobs/serve_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_spec_stages_runs_offline_and_publishes(evd: Evd, tmp_path: Path) -> None:
    data = serve_data()
    text = (EXAMPLES / "corpus_stats.toml").read_text()
    declared = tomllib.loads(text)
    assert declared["inputs"][0]["sha256"] == hashlib.sha256(data.corpus()).hexdigest()
    results = tmp_path / "results"
    with http_files() as files, s3_server(tmp_path) as endpoint:
        files.add("/corpus.txt", data.corpus())
        s3 = s3_client(endpoint)
        s3.make_bucket(data.BUCKET)
        s3.put(data.BUCKET, "stopwords.csv", data.stopwords())
        here = (
            text.replace(f"http://127.0.0.1:{data.WEB_PORT}", files.url)
            .replace(f"http://127.0.0.1:{data.S3_PORT}", endpoint)
            .replace("~/evd-results", str(results))
            .replace('file = "specjobs/', f'file = "{EXAMPLES}/specjobs/')
        )
        job = tmp_path / "corpus_stats.toml"
        job.write_text(here)
        env = {**evd.env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        runs = []
        for _ in range(2):
            run_id = evd.cli("run", "-q", str(job), check=True, env=env).stdout.strip()
            assert evd.cli("wait", run_id, timeout=600).returncode == 0, show(evd, run_id)
            runs.append(run_id)
        words = Counter(
            word for line in data.corpus().decode().split() for word in [line]
            if word not in data.STOPWORDS
        )  # fmt: skip
        expected = dict(sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
        for run_id in runs:
            assert json.loads(evd.cli("result", run_id, check=True).stdout) == expected
            assert s3.keys(data.BUCKET, f"results/{run_id}/")  # published to S3
            published = results / "corpus-stats" / run_id / "counts"
            assert any(published.iterdir())  # and to the local folder
        first, second = (show(evd, run_id)["inputs"] for run_id in runs)
        assert [item["staged"]["cached"] for item in first] == [False, False]
        assert [item["staged"]["cached"] for item in second] == [True, True]
        assert files.requests["/corpus.txt"] == 1
        assert show(evd, runs[1])["settings"]["network"] == "none"
