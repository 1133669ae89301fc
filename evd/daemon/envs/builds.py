"""Runs waiting for their environment and their inputs: ``building``, then ``staging``.

A run whose venv is not built yet goes ``queued -> building``; the build (one
per content hash, however many runs wait for it) runs on the event loop, and
the run goes back to ``queued`` to wait for a slot once its venv is ready, or
to ``failed`` (failed by the build, with uv's own account) if it cannot be
built. A run that declares inputs then goes ``staging`` while they are
fetched (``evd.daemon.data.inputs``, given here as ``InputStaging``), with
progress and errors in its log. Neither step takes a slot: a job does not
hold a GPU while pip works or a dataset downloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from evd.daemon.envs.envmanager import Environments
from evd.environments.builder import BuildFailed, BuiltEnv
from evd.environments.spec import EnvSpec
from evd.errors import StorageError
from evd.models import FailedBy, RunState
from evd.paths import StateDir
from evd.runner.shim import LOG_FILE
from evd.store import RunRecord, Store
from evd.store.records import EnvRecord

log = logging.getLogger("evd.builds")

BUILD_LOG = "build.log"  # uv's output, beside the job's own output.log
STAGE = "inputs"  # in ``waiting``: the run waits for its inputs

T = TypeVar("T")


class Recording(Protocol):
    """What builds write: a run's ``building`` state, and the env's record (the ledger)."""

    def record(
        self, run_id: int, state: RunState, reason: str | None, at: float, **fields: Any
    ) -> None:
        """Write a transition."""

    def write(self, action: Callable[[Store], T]) -> T:
        """Any other write."""


class InputStaging(Protocol):
    """Fetches a run's inputs into its folder (``evd.daemon.data.inputs.Stager``)."""

    def needs(self, spec: dict[str, Any] | None, run_dir: Path) -> bool:
        """Whether the run declares inputs not staged yet."""

    async def try_stage(
        self, run_id: int, run_dir: Path, spec: dict[str, Any], note: Callable[[str], None]
    ) -> str | None:
        """Stage them; why it failed (``None``: staged)."""

    def stop(self, run_id: int) -> None:
        """Give up staging the run."""


class Builds:
    """Starts builds for runs and tells admission when a run's venv is ready."""

    def __init__(
        self,
        state: StateDir,
        environments: Environments,
        recorder: Recording,
        *,
        on_ready: Callable[[int], None],
        on_failed: Callable[[int, str, FailedBy], None],
        clock: Callable[[], float] = time.time,
        staging: InputStaging | None = None,
    ) -> None:
        """Tell the caller through ``on_ready`` and ``on_failed``, on the loop.

        ``on_ready(run_id)``: the run's venv is ready, it may be queued.
        ``on_failed(run_id, reason, failed_by)``: its venv cannot be built.
        """
        self.state = state
        self.environments = environments
        self.recorder = recorder
        self.on_ready = on_ready
        self.on_failed = on_failed
        self.clock = clock
        self.staging = staging
        self.waiting: dict[int, str] = {}  # run id -> the env hash it waits for (or STAGE)
        self._builders: dict[str, int] = {}  # env hash -> the run whose log gets the output
        self._tasks: set[asyncio.Task[None]] = set()

    def needs_build(self, record: RunRecord) -> bool:
        """Whether ``record``'s venv is missing or its inputs are not staged (a ``stat`` each)."""
        return self._needs_env(record) or self._needs_inputs(record)

    def _needs_env(self, record: RunRecord) -> bool:
        return record.env_hash is not None and not self.environments.builder.is_ready(
            record.env_hash
        )

    def _needs_inputs(self, record: RunRecord) -> bool:
        return self.staging is not None and self.staging.needs(
            record.spec, self.state.run_dir(record.id)
        )

    def start(self, record: RunRecord, why: str = "") -> None:
        """Build (or join the build of) ``record``'s venv, then stage its inputs."""
        if not self._needs_env(record):
            self.waiting[record.id] = STAGE
            self._spawn(self._stage(record.id, record.spec or {}))
            return
        assert record.env_hash is not None and record.spec is not None
        content_hash = record.env_hash
        owner = self._builders.get(content_hash)
        short = content_hash[:8]
        if owner is None:
            self._builders[content_hash] = record.id
            reason = f"building environment {short}{why}"
        else:
            reason = f"waiting for environment {short}, which run {owner} is building"
        self.recorder.record(record.id, RunState.BUILDING, reason, self.clock())
        self.waiting[record.id] = content_hash
        spec = self.environments.spec_from_record(record.spec["env"])
        log_file = self.state.run_dir(record.id) / BUILD_LOG
        if owner is not None:
            self._note(log_file, f"evd: {reason}; uv's output is in that run's build log\n")
        self._spawn(self._build(record.id, spec, log_file, record.spec))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def reset(self) -> None:
        """Forget which runs wait (recovery re-reads them; builds in flight go on)."""
        self.waiting.clear()

    def cancel(self, run_id: int) -> bool:
        """Stop waiting for ``run_id``'s venv (the build itself goes on); whether it waited.

        Its inputs' downloads stop.
        """
        waited = self.waiting.pop(run_id, None)
        if waited == STAGE and self.staging is not None:
            self.staging.stop(run_id)
        return waited is not None

    async def _build(
        self, run_id: int, spec: EnvSpec, log_file: Path, run_spec: dict[str, Any]
    ) -> None:
        content_hash = spec.content_hash
        try:
            built = await self.environments.builder.ensure(spec, log_file)
        except BuildFailed as error:
            self._fail(run_id, log_file, FailedBy.BUILD, _build_failure(error, run_id))
            return
        except Exception as error:
            log.exception("building environment %s failed", content_hash)
            self._fail(
                run_id, log_file, FailedBy.EVD, f"evd could not build the environment: {error}"
            )
            return
        finally:
            if self._builders.get(content_hash) == run_id:
                del self._builders[content_hash]
        with contextlib.suppress(StorageError):  # degraded; recovery re-runs this
            if built is not None:
                self._remember(built, spec)
        if run_id in self.waiting:
            await self._stage(run_id, run_spec)

    async def _stage(self, run_id: int, spec: dict[str, Any]) -> None:
        """Stage the run's inputs (when it has any), then tell admission it is ready."""
        run_dir = self.state.run_dir(run_id)
        if self.staging is not None and self.staging.needs(spec, run_dir):
            self.waiting[run_id] = STAGE
            names = ", ".join(item["name"] for item in spec["inputs"])
            with contextlib.suppress(StorageError):
                reason = f"staging inputs: {names}"
                self.recorder.record(run_id, RunState.STAGING, reason, self.clock())
            log_file = run_dir / LOG_FILE
            try:
                failed = await self.staging.try_stage(
                    run_id, run_dir, spec, lambda text: self._note(log_file, f"evd: {text}\n")
                )
            except Exception as error:
                log.exception("staging run %s's inputs failed", run_id)
                self._fail(run_id, None, FailedBy.EVD, f"evd could not stage inputs: {error}")
                return
            if failed is not None:
                self._fail(run_id, None, FailedBy.USER, failed)  # the ledger logs the reason
                return
        with contextlib.suppress(StorageError):  # degraded; recovery re-runs this
            if self.waiting.pop(run_id, None) is not None:
                self.on_ready(run_id)

    def _remember(self, built: BuiltEnv, spec: EnvSpec) -> None:
        record = EnvRecord(
            hash=built.content_hash,
            python=spec.interpreter.version_text,
            requirements=list(spec.requirements),
            size=built.size,
            build_seconds=built.seconds,
            built_at=self.clock(),
            last_used_at=None,
        )
        self.recorder.write(lambda store: store.put_env(record))

    def _fail(self, run_id: int, log_file: Path | None, failed_by: FailedBy, reason: str) -> None:
        """Fail a waiting run; ``log_file``: a build log to end with the reason too."""
        if self.waiting.pop(run_id, None) is None:
            return  # cancelled meanwhile
        if log_file is not None:
            self._note(log_file, f"evd: {reason}\n")
        with contextlib.suppress(StorageError):
            self.on_failed(run_id, reason, failed_by)

    @staticmethod
    def _note(log_file: Path, text: str) -> None:
        with contextlib.suppress(OSError), open(log_file, "a", encoding="utf-8") as out:
            out.write(text)


def _build_failure(error: BuildFailed, run_id: int) -> str:
    return (
        f"the environment could not be built: {error}\n"
        f"Check the package names, versions and Python version"
        f" (`evd logs {run_id} --build` has uv's whole output)."
    )
