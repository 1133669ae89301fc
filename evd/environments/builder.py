"""Build virtualenvs with uv, once per content hash, and never leave half of one behind.

A venv lives in ``EVD_HOME/envs/HASH``; it is complete once ``evd-env.json`` is
written there, last. A build that fails (or a daemon that dies mid-build)
leaves a folder without it, which the next build of that hash removes first.
Builds run as subprocesses on the event loop (``uv venv``, then ``uv pip install
--compile-bytecode`` with hard links from one uv cache); concurrent requests
for one hash share one build.

Every venv gets a ``.pth`` file naming evd's SDK folder, so ``import evd`` (and
``import ev``) work in the job without installing anything: ``.pth`` entries go
to the end of ``sys.path``, after the venv's own packages.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from evd.environments.cudawheels import (
    PROBE,
    CudaMachine,
    install_options,
    judge,
    read_probe,
)
from evd.environments.spec import EnvSpec

log = logging.getLogger("evd.builder")

READY_FILE = "evd-env.json"
SDK_PTH = "_evd_sdk.pth"
BOOT_MODULE = "_evd_boot"  # run at interpreter start in job venvs (evd.sdk.boot)
TAIL_LINES = 25


_PR_SET_PDEATHSIG = 1


def _die_with_daemon(daemon_pid: int) -> Callable[[], None]:
    """A ``preexec_fn``: the build is killed if the daemon dies (SIGKILL included).

    Otherwise an orphaned uv could go on writing into a venv folder that the
    next daemon has removed and is building again.
    """

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != daemon_pid:  # the daemon died before prctl took effect
            os._exit(1)

    return preexec


class BuildFailed(Exception):
    """A build failed; the message is uv's own account (and what to do)."""


@dataclass(frozen=True)
class BuiltEnv:
    """A finished venv."""

    content_hash: str
    path: Path
    seconds: float
    size: int


def tree_size(path: Path) -> int:
    """Bytes under ``path`` (hard-linked files counted once per link)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def link_sdk(sdk_dir: Path) -> None:
    """Point ``sdk_dir/evd`` and ``sdk_dir/ev`` at this evd's SDK (venvs' ``.pth`` names the dir).

    Refreshed at every daemon start, so venvs keep working when evd moves.
    """
    package = Path(__file__).resolve().parent.parent
    sdk_dir.mkdir(parents=True, exist_ok=True)
    links = (
        ("evd", package),
        ("ev", package / "sdk" / "alias" / "ev"),
        (f"{BOOT_MODULE}.py", package / "sdk" / "boot.py"),
    )
    for name, target in links:
        link = sdk_dir / name
        if link.is_symlink() and os.readlink(link) == str(target):
            continue
        partial = sdk_dir / f".{name}.new"
        partial.unlink(missing_ok=True)
        partial.symlink_to(target)
        partial.replace(link)


class Builder:
    """Builds and finds venvs under ``root``."""

    def __init__(
        self, root: Path, sdk_dir: Path, uv: str, environ: Mapping[str, str], cache_dir: str
    ) -> None:
        """Build into ``root`` with the ``uv`` binary; uv's cache is ``cache_dir``."""
        self.root = root
        self.sdk_dir = sdk_dir
        self.uv = uv
        self.cache_dir = cache_dir
        self.environ = {
            **environ,
            "UV_CACHE_DIR": cache_dir,
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "NO_COLOR": "1",
        }
        self._inflight: dict[str, asyncio.Task[BuiltEnv]] = {}
        self.machine = CudaMachine()  # the driver and GPUs a built torch must run on

    def path(self, content_hash: str) -> Path:
        """The venv folder of ``content_hash``."""
        return self.root / content_hash

    def python(self, content_hash: str) -> Path:
        """The venv's interpreter."""
        return self.path(content_hash) / "bin" / "python"

    def is_ready(self, content_hash: str) -> bool:
        """Whether the venv is complete (one ``stat``: the warm path)."""
        return (self.path(content_hash) / READY_FILE).exists()

    def built_torch(self, content_hash: str) -> dict[str, Any] | None:
        """What the venv's torch was built for, as its build found (``None``: no torch)."""
        try:
            ready = json.loads((self.path(content_hash) / READY_FILE).read_text())
        except (OSError, ValueError):
            return None
        torch = ready.get("torch") if isinstance(ready, dict) else None
        return torch if isinstance(torch, dict) else None

    def in_progress(self, content_hash: str) -> bool:
        """Whether a build of ``content_hash`` is running."""
        return content_hash in self._inflight

    async def ensure(self, spec: EnvSpec, log_file: Path) -> BuiltEnv | None:
        """Build ``spec`` unless it is built; ``None`` if it already was.

        A build already running for the same hash is joined, not repeated; its
        output goes to the log of the run that started it.
        """
        content_hash = spec.content_hash
        if self.is_ready(content_hash):
            return None
        task = self._inflight.get(content_hash)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._build(spec, log_file))
            self._inflight[content_hash] = task
            task.add_done_callback(lambda _t: self._inflight.pop(content_hash, None))
        return await asyncio.shield(task)

    async def _build(self, spec: EnvSpec, log_file: Path) -> BuiltEnv:
        started = time.monotonic()
        venv = self.path(spec.content_hash)
        self.root.mkdir(parents=True, exist_ok=True)
        if venv.exists():
            log.info("removing the unfinished venv %s before building it again", venv)
            await asyncio.to_thread(shutil.rmtree, venv, True)
        with open(log_file, "a", encoding="utf-8", errors="replace") as out:
            out.write(
                f"evd: building environment {spec.content_hash}"
                f" (Python {spec.interpreter.version_text}, {len(spec.requirements)} packages)\n"
            )
            out.flush()
            torch = None
            try:
                await self._run(
                    [self.uv, "venv", "--python", spec.interpreter.path, str(venv)], out
                )
                if spec.requirements:
                    requirements = venv / "evd-requirements.txt"
                    requirements.write_text("".join(f"{r}\n" for r in spec.requirements))
                    torch_args, torch_variables = install_options(
                        spec.requirements, spec.index, self.machine
                    )
                    await self._run(
                        [
                            self.uv,
                            "pip",
                            "install",
                            "--python",
                            str(venv / "bin" / "python"),
                            "--compile-bytecode",
                            "--link-mode",
                            "hardlink",
                            *spec.index.args,
                            *torch_args,
                            "-r",
                            str(requirements),
                        ],
                        out,
                        extra={**dict(spec.index.variables), **torch_variables},
                    )
                    torch = await self._check_torch(venv, out, backend_chosen=bool(torch_args))
                self._add_sdk(venv)
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, venv, True)
                raise
            seconds = time.monotonic() - started
            size = await asyncio.to_thread(tree_size, venv)
            ready = {
                **spec.describe(),
                "built_at": time.time(),
                "seconds": seconds,
                "size": size,
                "torch": torch,
            }
            (venv / READY_FILE).write_text(json.dumps(ready, indent=2))
            out.write(f"evd: environment {spec.content_hash} built in {seconds:.1f} s\n")
        return BuiltEnv(spec.content_hash, venv, seconds, size)

    async def _check_torch(
        self, venv: Path, out: IO[str], *, backend_chosen: bool
    ) -> dict[str, Any] | None:
        """What the venv's torch was built for; ``BuildFailed`` if it cannot use the GPUs here."""
        if not any((venv / "lib").glob("python3*/site-packages/torch/__init__.py")):
            return None
        out.flush()  # the probe's errors go to the same file
        process = await asyncio.create_subprocess_exec(
            str(venv / "bin" / "python"), "-c", PROBE,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=out,
            env=self.environ, cwd=self.root,
        )  # fmt: skip
        output, _ = await process.communicate()
        if await process.wait() != 0:
            raise BuildFailed("the built environment cannot import torch (see the build log)")
        torch = read_probe(output.decode("utf-8", "replace"))
        if torch is None:
            return None
        reason = judge(torch, self.machine, backend_chosen)
        if reason is not None:
            out.write(f"evd: {reason}\n")
            raise BuildFailed(reason)
        cuda = torch.get("cuda")
        out.write(
            f"evd: torch {torch.get('version')} for {'CUDA ' + cuda if cuda else 'the CPU'}\n"
        )
        return torch

    def _add_sdk(self, venv: Path) -> None:
        for site in (venv / "lib").glob("python3*/site-packages"):
            (site / SDK_PTH).write_text(self._pth_text())

    def _pth_text(self) -> str:
        # The folder goes on sys.path; the import line runs evd's boot hooks.
        return f"{self.sdk_dir}\nimport {BOOT_MODULE}\n"

    def refresh_sdk_paths(self) -> int:
        """Bring the ``.pth`` of venvs built by an older evd up to date; return how many changed."""
        changed = 0
        for pth in self.root.glob(f"*/lib/python3*/site-packages/{SDK_PTH}"):
            try:
                if pth.read_text() != self._pth_text():
                    pth.write_text(self._pth_text())
                    changed += 1
            except OSError:
                continue  # a venv being removed
        return changed

    async def _run(
        self, argv: list[str], out: IO[str], extra: dict[str, str] | None = None
    ) -> None:
        out.write("$ " + " ".join(argv) + "\n")
        out.flush()
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**self.environ, **(extra or {})},
            cwd=self.root,  # not the daemon's cwd: no project's uv settings leak in
            preexec_fn=_die_with_daemon(os.getpid()),
        )
        assert process.stdout is not None
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            out.write(line)
            tail.append(line.rstrip())
        out.flush()
        code = await process.wait()
        if code != 0:
            text = "\n".join(line for line in tail if line.strip())
            raise BuildFailed(f"`uv {argv[1]}` failed (exit {code}):\n{text}")
