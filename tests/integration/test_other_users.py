"""What permissions decide, checked as a user without privileges (root would pass anything)."""

import json
import os
from pathlib import Path

from tests.conftest import Evd
from tests.helpers import run_as_ordinary_user

TRY_ALL = """
import json, socket, sys
results = {}
for path in PATHS:
    try:
        open(path, "rb").close()
        results[path] = "read"
    except OSError as error:
        results[path] = type(error).__name__
try:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(SOCKET)
    results["socket"] = "connected"
except OSError as error:
    results["socket"] = type(error).__name__
print(json.dumps(results))
"""


def test_another_user_can_neither_reach_the_daemon_nor_read_its_files(evd: Evd) -> None:
    run_id = evd.cli("run", "-q", "--", "echo", "private output", check=True).stdout.strip()
    evd.cli("wait", "-q", run_id, timeout=60)
    run_dir = evd.home / "runs" / run_id
    files = [evd.home / "evd.db", evd.home / "evd.log", run_dir / "output.log", run_dir / "exit"]
    # Let the other user into the folders (they are 0700): only the files' own modes, and
    # the socket's, stand in the way now.
    folders = [evd.home, evd.home / "runs", run_dir, *evd.home.parents]
    modes = {folder: os.stat(folder).st_mode for folder in folders if folder != Path("/")}
    code = f"PATHS = {[str(f) for f in files]!r}\nSOCKET = {str(evd.state.socket)!r}\n" + TRY_ALL
    try:
        for folder, mode in modes.items():
            os.chmod(folder, mode | 0o011)
        done = run_as_ordinary_user(code)
    finally:
        for folder, mode in modes.items():
            os.chmod(folder, mode)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results == {**{str(f): "PermissionError" for f in files}, "socket": "PermissionError"}


def test_python_discovery_passes_over_a_folder_it_cannot_read(tmp_path: Path) -> None:
    locked = tmp_path / "pyenv"  # under the suite's own temp folder: root's alone
    (locked / "versions" / "3.12.1" / "bin").mkdir(parents=True)
    os.chmod(tmp_path, 0o700)
    code = (
        "from evd.environments.pythons import Pythons\n"
        f"pythons = Pythons({{'PYENV_ROOT': {str(locked)!r}, 'PATH': '/usr/bin', 'HOME': '/'}})\n"
        "found = pythons.all()\n"
        "print(len(found) > 0, sorted(pythons.skipped))\n"
    )
    done = run_as_ordinary_user(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"True ['{locked / 'versions'}']"
