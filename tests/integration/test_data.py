"""Inputs staged before a run starts and outputs published after, against local servers."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Evd, wait_for
from tests.dataservers import Files, http_files, s3_client, s3_server
from tests.helpers import show, submit

READ = 'command = ["sh", "-c", "cat \\"$EVD_INPUT_DATA\\""]\n'
KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@pytest.fixture
def files() -> Iterator[Files]:
    with http_files() as served:
        yield served


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with s3_server(tmp_path_factory.mktemp("s3")) as endpoint:
        yield endpoint


def spec(folder: Path, text: str, name: str = "job.toml") -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def url_input(url: str, **more: str) -> str:
    extra = "".join(f'{key} = "{value}"\n' for key, value in more.items())
    return f'[[inputs]]\nname = "data"\nurl = "{url}"\n{extra}'


def log_of(evd: Evd, run_id: str) -> str:
    return Path(show(evd, run_id)["log_path"]).read_text()


def staged(evd: Evd, run_id: str) -> dict[str, object]:
    [item] = show(evd, run_id)["inputs"]
    assert isinstance(item, dict)
    return item["staged"]


def test_a_url_input_is_checked_and_the_next_run_takes_it_from_the_cache(
    evd: Evd, tmp_path: Path, files: Files
) -> None:
    data = os.urandom(300_000)
    url = files.add("/corpus.bin", data)
    digest = hashlib.sha256(data).hexdigest()
    job = spec(tmp_path, READ.replace("cat", "sha256sum") + url_input(url, sha256=digest))
    first = submit(evd, job)
    assert evd.cli("wait", first, timeout=120).returncode == 0
    assert log_of(evd, first).splitlines()[-1].startswith(digest)
    assert staged(evd, first)["cached"] is False
    second = submit(evd, job)
    assert evd.cli("wait", second, timeout=120).returncode == 0
    assert staged(evd, second)["cached"] is True
    assert files.requests["/corpus.bin"] == 1  # a declared checksum: no request at all
    states = [event["state"] for event in show(evd, first)["events"]]
    assert states[:2] == ["queued", "staging"]
    said = evd.cli("show", second, check=True).stdout
    assert f"input      data: url {url} -> " in said and "from the cache" in said


def test_without_a_checksum_the_server_is_asked_whether_it_changed(
    evd: Evd, tmp_path: Path, files: Files
) -> None:
    url = files.add("/notes.txt", b"first\n")
    job = spec(tmp_path, READ + url_input(url))
    runs = [submit(evd, job)]
    assert evd.cli("wait", runs[0], timeout=120).returncode == 0
    runs.append(submit(evd, job))
    assert evd.cli("wait", runs[1], timeout=120).returncode == 0
    assert staged(evd, runs[1])["cached"] is True  # 304 Not Modified
    files.add("/notes.txt", b"second\n")
    runs.append(submit(evd, job))
    assert evd.cli("wait", runs[2], timeout=120).returncode == 0
    assert log_of(evd, runs[2]).splitlines()[-1] == "second"
    assert log_of(evd, runs[0]).splitlines()[-1] == "first"
    assert Path(staged(evd, runs[0])["source"]).read_bytes() == b"first\n"  # kept as it was


def test_bad_inputs_fail_the_run_before_it_starts(evd: Evd, tmp_path: Path, files: Files) -> None:
    missing = submit(evd, spec(tmp_path, READ + url_input(files.url + "/nope")))
    mismatch = submit(
        evd, spec(tmp_path, READ + url_input(files.add("/x", b"x"), sha256="0" * 64), "b.toml")
    )
    local = submit(
        evd, spec(tmp_path, READ + '[[inputs]]\nname = "data"\npath = "gone.txt"\n', "c.toml")
    )
    unreachable = submit(evd, spec(tmp_path, READ + url_input("http://127.0.0.1:9/x"), "d.toml"))
    for run_id in (missing, mismatch, unreachable):
        assert evd.cli("wait", run_id, timeout=120).returncode == 125
    reasons = {run_id: show(evd, run_id)["reason"] for run_id in (missing, mismatch, local)}
    assert reasons[missing] == f"input data: {files.url}/nope answered 404 Not Found"
    assert "its SHA-256 is" in reasons[mismatch] and "not the declared 0000" in reasons[mismatch]
    assert reasons[local] == f"input data: {tmp_path / 'gone.txt'} does not exist"
    assert "could not reach http://127.0.0.1:9/x" in show(evd, unreachable)["reason"]
    assert show(evd, missing)["failed_by"] == "user"
    assert evd.cli("wait", submit(evd, "--", "true"), timeout=60).returncode == 0  # serves on


def test_a_broken_download_resumes_where_it_stopped(evd: Evd, tmp_path: Path, files: Files) -> None:
    data = os.urandom(2_000_000)
    url = files.add("/big.bin", data)
    files.broken.add("/big.bin")
    job = spec(tmp_path, READ.replace("cat", "wc -c <") + url_input(url))
    first = submit(evd, job)
    assert evd.cli("wait", first, timeout=120).returncode == 125
    assert "broke off" in show(evd, first)["reason"] or "ended after" in show(evd, first)["reason"]
    second = submit(evd, job)
    assert evd.cli("wait", second, timeout=120).returncode == 0
    assert log_of(evd, second).splitlines()[-1].strip() == str(len(data))
    assert files.ranges and int(files.ranges[-1][6:-1]) > 0  # asked for the rest only
    assert staged(evd, second)["resumed_from"] > 0


def test_a_run_cancelled_while_staging_stops_downloading(
    evd: Evd, tmp_path: Path, files: Files
) -> None:
    files.add("/slow.bin", os.urandom(64 * 1024 * 200))  # 200 ticks of 0.2 s
    files.slow.add("/slow.bin")
    run_id = submit(evd, spec(tmp_path, READ + url_input(files.url + "/slow.bin")))
    wait_for(lambda: show(evd, run_id)["state"] == "staging", timeout=60)
    wait_for(lambda: "downloading" in log_of(evd, run_id), timeout=60)
    evd.cli("cancel", run_id, check=True)
    assert show(evd, run_id)["state"] == "cancelled"
    assert evd.cli("wait", run_id, timeout=30).returncode == 130


def test_s3_inputs_and_outputs(evd: Evd, tmp_path: Path, s3: str) -> None:
    client = s3_client(s3)
    client.make_bucket("inbox")
    client.make_bucket("outbox")
    client.put("inbox", "set/a.txt", b"alpha\n")
    client.put("inbox", "set/sub/b.txt", b"beta\n")
    client.put("inbox", "one.csv", b"x\n1\n")
    results = tmp_path / "results"
    text = (
        'name = "s3job"\n'
        'command = ["sh", "-c", "cat $EVD_INPUT_SET/a.txt $EVD_INPUT_SET/sub/b.txt $EVD_INPUT_ONE'
        ' > $EVD_OUTPUT_DIR/all.txt"]\n'
        f'[[inputs]]\nname = "set"\ns3 = "s3://inbox/set/"\nendpoint = "{s3}"\n'
        f'[[inputs]]\nname = "one"\ns3 = "s3://inbox/one.csv"\nendpoint = "{s3}"\n'
        f'[[outputs]]\nname = "all"\npath = "all.txt"\nendpoint = "{s3}"\n'
        f'to = ["{results}/{{name}}/{{run_id}}/", "s3://outbox/{{name}}/{{run_id}}/"]\n'
    )
    job = spec(tmp_path, text)
    env = {**evd.env, **KEYS}
    first = evd.cli("run", "-q", job, check=True, env=env).stdout.strip()
    assert evd.cli("wait", first, timeout=120).returncode == 0, show(evd, first)
    assert (results / "s3job" / first / "all.txt").read_text() == "alpha\nbeta\nx\n1\n"
    assert client.get("outbox", f"s3job/{first}/all.txt") == b"alpha\nbeta\nx\n1\n"
    run = show(evd, first)
    assert {item["to"] for item in run["published"]} == {
        str(results / "s3job" / first / "all.txt"),
        f"s3://outbox/s3job/{first}/",
    }
    local = results / "s3job" / first / "all.txt"
    kept = Path(show(evd, first)["log_path"]).parent / "outputs" / "all.txt"
    assert local.stat().st_ino == kept.stat().st_ino  # hard-linked, not copied

    second = evd.cli("run", "-q", job, check=True, env=env).stdout.strip()
    assert evd.cli("wait", second, timeout=120).returncode == 0
    assert all(item["staged"]["cached"] for item in show(evd, second)["inputs"])

    bad = spec(tmp_path, text.replace("s3://outbox/", "s3://nowhere/"), "bad.toml")
    failed = evd.cli("run", "-q", bad, check=True, env=env).stdout.strip()
    assert evd.cli("wait", failed, timeout=120).returncode == 1
    reason = show(evd, failed)["reason"]
    assert reason.startswith("publishing output all to s3://nowhere/") and "NoSuchBucket" in reason
    assert (Path(show(evd, failed)["log_path"]).parent / "outputs" / "all.txt").exists()


def test_a_denied_bucket_fails_the_run_with_the_reason(evd: Evd, tmp_path: Path) -> None:
    with s3_server(tmp_path, auth=True) as endpoint:
        job = spec(
            tmp_path,
            READ + f'[[inputs]]\nname = "data"\ns3 = "s3://locked/x"\nendpoint = "{endpoint}"\n'
            'credentials = "LOCKED"\n',
        )
        refused = evd.cli("run", job)  # its credentials are named, and missing
        assert refused.returncode == 125 and "LOCKED_ACCESS_KEY_ID" in refused.stderr
        env = {**evd.env, "LOCKED_ACCESS_KEY_ID": "who", "LOCKED_SECRET_ACCESS_KEY": "me"}
        run_id = evd.cli("run", "-q", job, check=True, env=env).stdout.strip()
        assert evd.cli("wait", run_id, timeout=120).returncode == 125
        assert show(evd, run_id)["reason"].startswith("input data: 403 Forbidden")


def test_path_and_volume_inputs(evd: Evd, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("local\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "v.txt").write_text("volume\n")
    evd.cli("volumes", "add", "shared", str(shared), check=True)
    job = spec(
        tmp_path,
        'command = ["sh", "-c", "cat $EVD_INPUT_NOTES $EVD_INPUTS_DIR/vol/v.txt"]\n'
        '[[inputs]]\nname = "notes"\npath = "notes.txt"\n'
        '[[inputs]]\nname = "vol"\nvolume = "shared"\n',
    )
    run_id = submit(evd, job)
    assert evd.cli("wait", run_id, timeout=120).returncode == 0
    assert log_of(evd, run_id).splitlines()[-2:] == ["local", "volume"]
    assert [item["version"].split(":")[0] for item in show(evd, run_id)["inputs"]] == [
        "sha256", "mtime",
    ]  # fmt: skip
    json.dumps(show(evd, run_id))
