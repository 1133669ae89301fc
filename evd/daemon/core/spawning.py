"""Spawning one run: its folder, its environment variables, its shim, and ``running``.

The launcher is dispatch's hands: given a run and the resources the scheduler
placed it on, it prepares the run folder for this attempt, works out the job's
environment (``CUDA_VISIBLE_DEVICES``, thread counts, ``MASTER_PORT``...),
spawns the shim, and records the start. A run that cannot start (a secret gone,
a program missing) is recorded as failed with the reason instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from evd.daemon.core.jobenv import job_environment
from evd.daemon.core.ledger import Ledger
from evd.daemon.core.runtime import LiveRun
from evd.daemon.core.workers import LAUNCH_MODULE, Workers
from evd.environments.builder import Builder
from evd.models import FailedBy, RunState
from evd.policy import Policy
from evd.resources.memlimit import MemoryEnforcement
from evd.resources.pool import Allocation
from evd.runner.logcap import note_in_log
from evd.runner.netns import Isolation
from evd.runner.ports import free_port
from evd.runner.shim import EXIT_FILE, LOG_FILE, PID_FILE
from evd.runner.spawn import SpawnError, check_startable, spawn
from evd.runner.warm import WORKER_ENDED, client_command, hand_over
from evd.sdk.checks import DeclarationError
from evd.sdk.launch import MAIN_EXIT_FILE
from evd.sdk.progress import PROGRESS_FILE
from evd.sdk.worker import CALL_FILE, DONE_FIFO
from evd.store import RunRecord

log = logging.getLogger("evd.spawning")


class Launcher:
    """Starts one run's job under its shim and records that it runs."""

    def __init__(
        self,
        ledger: Ledger,
        builder: Builder,
        memory_limits: MemoryEnforcement,
        job_defaults: dict[str, Any],
        workers: Workers,
        *,
        clock: Callable[[], float] = time.time,
        cuda_ids: Mapping[int, str] | None = None,
        isolation: Isolation | None = None,
    ) -> None:
        """Launch into ``ledger``'s run folders with venvs of ``builder``.

        ``cuda_ids`` name devices in jobs' ``CUDA_VISIBLE_DEVICES`` (``None``: by index);
        ``isolation`` starts the jobs that declare ``network = "none"``.
        """
        self.isolation = isolation or Isolation()
        self.cuda_ids = cuda_ids
        self.ledger = ledger
        self.builder = builder
        self.memory_limits = memory_limits
        self.job_defaults = job_defaults
        self.workers = workers
        self.clock = clock

    def launch(
        self, record: RunRecord, allocation: Allocation, ports_taken: Callable[[], set[int]]
    ) -> tuple[LiveRun, float] | None:
        """Spawn ``record`` on ``allocation``: the live run and its start (``None``: it failed)."""
        run_id = record.id
        state = self.ledger.state
        run_dir = state.run_dir(run_id)
        venv = self.builder.path(record.env_hash) if record.env_hash else None
        port = None
        try:
            run_dir.mkdir(exist_ok=True)
            if record.attempts or (record.retry or {}).get("preempted_by") is not None:
                _begin_attempt(run_dir, record)
            if allocation.on_loan:
                note_in_log(
                    run_dir,
                    "evd: started on what a waiting run keeps, as this run's estimate says it"
                    " ends first; should that run fit sooner, this one is stopped and queued"
                    " again",
                )
            if len(allocation.gpus) > 1:
                port = free_port(ports_taken())
            env = job_environment(
                record, state, venv, allocation, port,
                defaults=self.job_defaults, cuda_ids=self.cuda_ids,
            )  # fmt: skip
            check_startable(record.command, record.cwd, env)
            warm = (record.spec or {}).get("worker")
            if warm is not None:  # its job's warm worker calls it; its shim runs the client
                command = self._on_worker(record, run_dir, env, allocation, warm)
                pid = spawn(run_dir, record.cwd, command, env)
                return self._started(record, run_dir, pid, allocation, port, scoped=False)
            limit = allocation.memory
            scoped = self.memory_limits.scoped(limit)
            wrap, cgroup_root = None, None
            if scoped:
                wrap = lambda argv: self.memory_limits.wrap(argv, limit)  # noqa: E731
                cgroup_root = self.memory_limits.cgroup_root
                # systemd-run reaches the user manager with the daemon's session, whatever
                # the submitter's shell had (cron, `sudo -u`, a stale terminal).
                env.update(self.memory_limits.session)
            command = record.command
            if (record.spec or {}).get("settings", {}).get("network") == "none":
                command = self.isolation.wrap(command)  # checked at submit
            pid = spawn(run_dir, record.cwd, command, env, wrap=wrap, cgroup_root=cgroup_root)
        except (DeclarationError, SpawnError) as error:  # a secret gone, a program missing
            self._not_started(run_id)
            self.ledger.fail_before_start(run_id, str(error), FailedBy.USER)
            return None
        except OSError as error:
            log.exception("could not start run %s", run_id)
            self._not_started(run_id)
            self.ledger.fail_before_start(
                run_id, f"evd could not start the job: {error}", FailedBy.EVD
            )
            return None
        return self._started(record, run_dir, pid, allocation, port, scoped=scoped)

    def _started(
        self,
        record: RunRecord,
        run_dir: Path,
        pid: int,
        allocation: Allocation,
        port: int | None,
        *,
        scoped: bool,
    ) -> tuple[LiveRun, float]:
        started = self.clock()
        record_start(self.ledger, record, pid=pid, at=started, gpus=list(allocation.gpus))
        if record.env_hash is not None:
            env_hash = record.env_hash
            self.ledger.write(lambda store: store.touch_env(env_hash, started))
        disk = int((record.resources or {}).get("disk", 0))
        live = LiveRun(
            run_id=record.id,
            pid=pid,
            run_dir=run_dir,
            master_port=port,
            scoped=scoped,
            disk=disk,
            preemptible=Policy.preemptible_in(record.policy),
        )
        return live, started

    def _on_worker(
        self,
        record: RunRecord,
        run_dir: Path,
        env: dict[str, str],
        allocation: Allocation,
        warm: dict[str, Any],
    ) -> list[str]:
        """Hand ``record`` to the worker chosen for it, or a new one; the client's command."""
        worker = self.workers.serving(record.id)
        if worker is not None and worker.allocation.gpus != allocation.gpus:
            self._not_started(record.id)  # chosen before its env was rebuilt: not where it runs
            worker = None
        if worker is None:
            worker = self.workers.spawn(
                record.id,
                run_dir=run_dir,
                command=record.command,
                env=env,
                allocation=allocation,
                settings={
                    **warm,
                    "name": record.name,
                    "source": (record.spec or {}).get("source", ""),
                },
            )
        env["EVD_WORKER_ID"] = str(worker.id)
        launch = record.command[record.command.index(LAUNCH_MODULE) + 1 :]
        hand_over(run_dir, launch, env, record.cwd)
        return client_command(worker.folder, run_dir)

    def _not_started(self, run_id: int) -> None:
        """A run a worker was to serve did not start: that worker is retired (it holds nothing)."""
        worker = self.workers.released(run_id)
        if worker is not None:
            self.workers.retire(worker)


def record_start(
    ledger: Ledger,
    record: RunRecord,
    *,
    pid: int,
    at: float,
    gpus: list[int],
    reason: str | None = None,
) -> None:
    """Record that ``record``'s next attempt runs (its shim is ``pid``, on ``gpus``)."""
    ledger.record(
        record.id,
        RunState.RUNNING,
        reason,
        at,
        pid=pid,
        started_at=at,
        attempts=record.attempts + 1,
        gpus=gpus,
        retry=None,
        stop_reason=None,  # a stop of an earlier attempt (a timeout, a preemption) is over
    )


def _begin_attempt(run_dir: Path, record: RunRecord) -> None:
    """Clear the last attempt's shim records and progress; mark where the next attempt begins."""
    for name in (EXIT_FILE, PID_FILE, MAIN_EXIT_FILE, PROGRESS_FILE, WORKER_ENDED, CALL_FILE):
        (run_dir / name).unlink(missing_ok=True)
    (run_dir / DONE_FIFO).unlink(missing_ok=True)
    total = Policy.from_dict(record.policy).attempts_in_all
    of = f" of {total}" if total else ""
    by = (record.retry or {}).get("preempted_by")
    again = "" if by is None else f" (again: run {by} preempted the last one)"
    with open(run_dir / LOG_FILE, "a", encoding="utf-8") as out:
        out.write(f"evd: attempt {record.attempts + 1}{of}{again}\n")
