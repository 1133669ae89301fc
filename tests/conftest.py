"""Shared fixtures: a real daemon in a temp state dir, the real CLI, and cleanup."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evd.client import Client
from evd.paths import StateDir

ENV_KEEP = (
    *("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "UV_CACHE_DIR", "PYENV_ROOT"),
    # How this machine reaches the package registry (CA bundle, proxies).
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "UV_NATIVE_TLS", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"),
    *("https_proxy", "http_proxy", "no_proxy"),
)
# One uv cache for the whole session (and across sessions): packages download once.
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("UV_CACHE_DIR", str(REPO / ".cache" / "uv"))


def base_env(home: Path) -> dict[str, str]:
    """A small, predictable environment for the CLI and the daemon under test."""
    env = {key: os.environ[key] for key in ENV_KEEP if key in os.environ}
    env["EVD_HOME"] = str(home)
    env["DO_NOT_TRACK"] = "1"
    return env


@dataclass
class Evd:
    """A state dir, the CLI pointed at it, and a client for it."""

    home: Path
    env: dict[str, str]

    @property
    def state(self) -> StateDir:
        return StateDir(self.home)

    def client(self) -> Client:
        return Client(self.state, timeout=30)

    def cli(
        self,
        *args: str,
        check: bool = False,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `evd ARGS` as a user would, in its own process (``env``: its shell's variables)."""
        result = subprocess.run(
            [sys.executable, "-m", "evd", *args],
            env=self.env if env is None else env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"evd {' '.join(args)} -> {result.returncode}\n{result.stderr}")
        return result

    def up(self, *extra: str) -> None:
        self.cli("up", "--parallel", "2", "--kill-grace", "1", *extra, check=True)

    def daemon_pid(self) -> int:
        return int(self.state.pid_file.read_text().split("\n")[0])


def kill_leftover_jobs(home: Path) -> None:
    """Stop every job and warm worker a test left running (shims outlive the daemon by design)."""
    for pid_file in [*home.glob("runs/*/shim.pid"), *home.glob("workers/*/shim.pid")]:
        with contextlib.suppress(ValueError, OSError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


@pytest.fixture
def evd_env(tmp_path: Path) -> Iterator[Evd]:
    """A state dir with no daemon running yet."""
    home = tmp_path / "home"
    evd = Evd(home=home, env=base_env(home))
    try:
        yield evd
    finally:
        if home.exists() and (home / "evd.pid").exists():
            evd.cli("down")
            with contextlib.suppress(ValueError, OSError):
                os.kill(evd.daemon_pid(), signal.SIGKILL)
        kill_leftover_jobs(home)


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    requires: tuple[str, ...] = (),
    module: str | None = None,
) -> Path:
    """A real pure-Python wheel of ``name`` (its module holds ``VERSION``), for offline builds."""
    dist = name.replace("-", "_")
    module = module or dist
    dist_info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: evd-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """A folder of local wheels: evdtest-pkg 1.0 and 2.0, evdtest-dep 1.0."""
    folder = tmp_path / "wheels"
    make_wheel(folder, "evdtest-pkg", "1.0")
    make_wheel(folder, "evdtest-pkg", "2.0", requires=("evdtest-dep==1.0",))
    make_wheel(folder, "evdtest-dep", "1.0")
    return folder


@pytest.fixture
def offline_evd(evd_env: Evd, wheels: Path) -> Evd:
    """A running daemon whose builds use only the local wheels (no index at all)."""
    evd_env.home.mkdir(parents=True, exist_ok=True)
    (evd_env.home / "config.toml").write_text(
        f'[index]\nno_index = true\nfind_links = ["{wheels}"]\n'
    )
    evd_env.up()
    return evd_env


@pytest.fixture
def evd(evd_env: Evd) -> Evd:
    """A running daemon (parallel 2, 1 s kill grace) in a temp state dir."""
    evd_env.up()
    return evd_env


def process_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def wait_for(predicate: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` until true, or fail the test."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
