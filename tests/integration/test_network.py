"""network = "none": the job has its own loopback and cannot reach the host's."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Evd
from tests.helpers import run_as_ordinary_user, show, submit

# Reaches the host's listener (PORT), then serves and reaches itself on its own loopback.
PROBE = """\
import json, socket, sys
port = int(sys.argv[1])
seen = {}
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    seen["host"] = "reached"
except OSError as error:
    seen["host"] = type(error).__name__
own = socket.socket()
own.bind(("127.0.0.1", 0))
own.listen()
socket.create_connection(own.getsockname(), timeout=2).close()
seen["own"] = "reached"
print(json.dumps(seen))
"""


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def probe_log(evd: Evd, run_id: str) -> dict[str, str]:
    assert evd.cli("wait", run_id, timeout=120).returncode == 0, show(evd, run_id)
    return json.loads(Path(show(evd, run_id)["log_path"]).read_text().splitlines()[-1])


def test_a_job_without_network_reaches_only_its_own_loopback(
    evd: Evd, tmp_path: Path, listener: int
) -> None:
    (tmp_path / "probe.py").write_text(PROBE)
    command = f'command = ["{sys.executable}", "probe.py", "{listener}"]\n'
    (tmp_path / "host.toml").write_text(command)
    (tmp_path / "none.toml").write_text(command + 'network = "none"\n')
    assert probe_log(evd, submit(evd, str(tmp_path / "host.toml"))) == {
        "host": "reached",
        "own": "reached",
    }
    isolated = submit(evd, str(tmp_path / "none.toml"))
    seen = probe_log(evd, isolated)
    assert seen["own"] == "reached"
    assert seen["host"] in ("ConnectionRefusedError", "OSError")  # another namespace's port
    assert 'network = "none"' in evd.cli("spec", isolated, check=True).stdout


def test_a_declared_job_without_network(evd: Evd, tmp_path: Path, listener: int) -> None:
    job = tmp_path / "job.py"
    job.write_text(
        "import socket\nfrom evd import Job\n\n"
        'job = Job("offline", network="none")\n\n\n'
        "@job.main()\ndef main(port: int) -> str:\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=2).close()\n"
        "    except OSError:\n"
        "        return 'cut off'\n"
        "    return 'reached'\n"
    )
    run_id = submit(evd, str(job), str(listener))
    assert evd.cli("wait", run_id, timeout=120).returncode == 0
    assert json.loads(evd.cli("result", run_id, check=True).stdout) == "cut off"


def test_an_ordinary_user_gets_a_namespace_too(listener: int) -> None:
    done = run_as_ordinary_user(
        "import os, subprocess\n"
        "from evd.runner.netns import Isolation\n"
        "isolation = Isolation('/usr/bin:/bin:/usr/sbin:/sbin')\n"
        "assert isolation.unavailable() is None, isolation.unavailable()\n"
        "probe = 'import os, socket\\n'"
        f"'try:\\n    socket.create_connection((\"127.0.0.1\", {listener}), timeout=2)\\n'"
        "'except OSError as e:\\n    print(\"cut off\", os.getuid())\\n'\n"
        "done = subprocess.run(isolation.wrap(['/bin/sh', '-c', 'exec \"$0\" -c \"$1\"',"
        " __import__('sys').executable, probe]), capture_output=True, text=True)\n"
        "print(done.stdout.strip(), done.stderr.strip(), os.getuid())\n"
    )
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[:2] == ["cut", "off"]
    assert words[2] == words[-1]  # the job is still the user, not root of its namespace
