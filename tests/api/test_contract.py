"""The API document is the truth: a property-based fuzzer holds evd to it.

schemathesis generates requests from ``/openapi.json`` — valid ones, invalid
ones, and sequences that create, read and delete (the stateful phase) — and
checks every answer against the document: its status is declared, its body
has the declared schema, a valid request is accepted (or answered 404/409), an
invalid one refused, a wrong method answered 405 with ``Allow``. It runs on a
real daemon through the HTTP trigger's port, with its token; the daemon is
drained, so no fuzzed command ever runs. A fixed seed and budget keep it
repeatable and within the suite's time.
"""

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.conftest import Evd
from tests.helpers import free_port

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261130
EXAMPLES = 15  # per operation and phase: about a minute and a half here


@pytest.fixture
def http_evd(evd_env: Evd) -> tuple[Evd, str, str]:
    """A drained daemon with its HTTP trigger on a free port: (evd, base URL, token)."""
    port = free_port()
    evd_env.cli("up", "--http", f"127.0.0.1:{port}", check=True)
    evd_env.cli("drain", check=True)
    token = (evd_env.home / "http-token").read_text().strip()
    return evd_env, f"http://127.0.0.1:{port}", token


def fetch_document(url: str, token: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{url}/openapi.json", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        document: dict[str, object] = json.load(answer)
    return document


def test_the_document_is_valid_openapi_3_1(http_evd: tuple[Evd, str, str]) -> None:
    _evd, url, token = http_evd
    document = fetch_document(url, token)
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    schemas = document["components"]["schemas"]  # type: ignore[index]
    assert "HTTPValidationError" not in schemas and "Error" in schemas


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_answer_is_the_one_the_document_declares(
    http_evd: tuple[Evd, str, str], tmp_path: Path
) -> None:
    evd, url, token = http_evd
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--config-file", str(CONFIG), "--no-color",
        "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--exclude-path", "/v1/shutdown",  # it would stop the daemon under test
        # Long polls answer when their run ends or at their timeout (up to 300 s):
        # drained, no run ends, so they are checked by the suite's own tests instead.
        "--exclude-path-regex", "/wait$",
        # A stream that ends only when the client leaves: tests/integration/test_streams.py.
        "--exclude-path", "/v1/events",
        "--seed", str(SEED),
        "--max-examples", str(EXAMPLES),
        # One worker: schemathesis's workers are threads, and Python 3.11's `ast` is
        # not thread-safe (CPython gh-106905: "AST constructor recursion depth
        # mismatch" when hypothesis describes two strategies' lambdas at once).
        "--workers", "1",
        "--request-timeout", "20",
        "--report", "junit", "--report-dir", str(tmp_path / "report"),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-2000:]
    assert evd.client().health().pid == evd.daemon_pid()  # it kept serving throughout
