"""Intake: submit, re-run and map: validate, prepare, store durably, hand off.

Every way in (the API, watched folders, schedules, the HTTP trigger) submits
here. A submit is committed before it is answered; a job file with a mistake
still becomes a run, recorded as failed with the reason (see
``evd.daemon.submit.prepare``). Stored runs go to admission, which queues them
or builds their environment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evd.daemon.core.admission import Admission
from evd.daemon.core.diskroom import DiskRoom
from evd.daemon.core.dispatch import Dispatch
from evd.daemon.core.estimates import Estimates
from evd.daemon.core.gate import Gate
from evd.daemon.core.ledger import Ledger
from evd.daemon.core.resultcache import ResultCache
from evd.daemon.submit import fanout, secrets, specfile
from evd.daemon.submit.cachekey import worker_key
from evd.daemon.submit.prepare import Preparer
from evd.daemon.submit.prepared import CODE_DIR, Prepared
from evd.daemon.submit.validate import Job, validate
from evd.errors import Conflict, InvalidRequest
from evd.estimates import alike_key
from evd.models import MapRequest, SubmitRequest
from evd.runner.folders import FolderStock
from evd.runner.logcap import note_in_log
from evd.store import GroupRecord, RunRecord, Store

# also(store, run_id): a trigger's own record of the run, written in the run's commit.
AlsoWrite = Callable[[Store, int], None]


class Intake:
    """Takes new runs in: one submit path for every trigger."""

    def __init__(
        self,
        ledger: Ledger,
        gate: Gate,
        *,
        preparer: Preparer,
        folders: FolderStock,
        cache: ResultCache,
        admission: Admission,
        dispatch: Dispatch,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Store runs in ``ledger`` and hand them to ``admission``."""
        self.ledger = ledger
        self.gate = gate
        self.preparer = preparer
        self.folders = folders
        self.cache = cache
        self.admission = admission
        self.dispatch = dispatch
        self.clock = clock
        self.diskroom: DiskRoom | None = None  # set by the engine: checks disk requests
        self.estimates: Estimates | None = None  # set by the engine: how long runs take

    async def submit(self, request: SubmitRequest, *, also: AlsoWrite | None = None) -> RunRecord:
        """Validate, prepare, store durably, then build its env or queue it.

        ``also(store, run_id)`` writes a trigger's own record of the run in the
        same commit as the run.
        """
        self.gate.check()
        job, spec = self._validated(request)
        prepared = await self._prepare(job, job_environment(request, spec))
        prepared.spec["request"] = replayable(request)
        if spec is not None:
            prepared.spec["jobspec"] = spec.document
            if spec.count > 1:
                return await self._submit_count(prepared, request, spec.count)
        [key] = await self.cache.keys_for(prepared, [prepared.command], job.cache)
        try:
            self.gate.check()  # the world may have changed while the file was read
            run_id = self._store_prepared(prepared, also, key)
        except BaseException:
            self.preparer.discard(prepared)
            raise
        # A cached result, or a twin computing it to wait for (admission holds it then).
        if self.cache.take_or_join(run_id, key, refresh=job.cache == "refresh"):
            self.ledger.flush()  # no process: the result is there
            return self.ledger.get(run_id)
        self._launch([run_id], prepared)
        return self.ledger.get(run_id)

    async def rerun(self, record: RunRecord, args: list[str] | None = None) -> RunRecord:
        """Submit what ``record`` ran again (its file as it is now), with the daemon's environment.

        ``args`` replace the job's words (a command's arguments after the program).
        """
        recorded = (record.spec or {}).get("request")
        if not recorded:
            raise Conflict(f"run {record.id} predates re-runs: evd did not keep its request")
        request = SubmitRequest(**recorded)
        if args is not None:
            if request.command:
                request.command = [request.command[0], *args]
            else:
                request.args = list(args)
        return await self.submit(request)

    async def submit_map(self, request: MapRequest) -> GroupRecord:
        """Submit ``request.run`` once per item, as one group (stored in one commit).

        The file is read once; each run gets its own copy of the code. A
        mistake in the file fails every run of the group with the reason.
        """
        self.gate.check()
        items = fanout.check_items(request.items)
        job, spec = self._validated(request.run)
        if spec is not None and spec.count > 1:
            raise InvalidRequest("a spec with count makes its own group: run it without --map")
        prepared = await self._prepare(job, job_environment(request.run, spec))
        if spec is not None:
            prepared.spec["jobspec"] = spec.document
        kind = prepared.spec.get("kind", prepared.kind)
        commands = [fanout.item_command(prepared.command, kind, item) for item in items]
        keys = await self.cache.keys_for(prepared, commands, job.cache)
        try:
            self.gate.check()
            group_id, run_ids = self._store_group(
                prepared, commands, keys, self._parent(request.run)
            )
        except BaseException:
            self.preparer.discard(prepared)
            raise
        refresh = job.cache == "refresh"
        served = {
            r
            for r, k in zip(run_ids, keys, strict=True)
            if self.cache.take_or_join(r, k, refresh=refresh)
        }
        self._launch([run_id for run_id in run_ids if run_id not in served], prepared)
        return self.ledger.get_group(group_id)

    async def _submit_count(
        self, prepared: Prepared, request: SubmitRequest, count: int
    ) -> RunRecord:
        """A spec's ``count``: one group of identical runs, each told its ``EVD_GROUP_INDEX``.

        Its runs differ only by their index, so none takes another's cached result.
        """
        try:
            self.gate.check()
            _, run_ids = self._store_group(
                prepared, [prepared.command] * count, [None] * count, self._parent(request)
            )
        except BaseException:
            self.preparer.discard(prepared)
            raise
        self._launch(run_ids, prepared)
        return self.ledger.get(run_ids[0])

    @staticmethod
    def _validated(request: SubmitRequest) -> tuple[Job, specfile.JobSpec | None]:
        """The job a request asks for; a spec file's fields and declarations read into it."""
        if not specfile.is_spec(request.file):
            return validate(request), None
        spec = specfile.load(request)
        job = validate(spec.request)
        return dataclasses.replace(job, layer=spec.layer, env_layer=spec.env), spec

    async def dry_run(self, job: Job, environment: str | None) -> Prepared:
        """Prepare a validated job as a submit would, and keep nothing: what it would run."""
        prepared = await self.preparer.prepare(job, environment)
        self.preparer.discard(prepared)
        return prepared

    def _parent(self, request: SubmitRequest) -> int | None:
        """The active run a submit came from (its ``EVD_RUN_ID``), if any."""
        text = (request.env or {}).get("EVD_RUN_ID", "")
        if not text.isdigit():
            return None
        record = self.ledger.store.get_run(int(text))
        return record.id if record is not None and not record.state.is_final else None

    async def _prepare(self, job: Job, environment: str | None) -> Prepared:
        """Prepare a validated job; refuse it (422) if it names a run that does not exist."""
        prepared = await self.preparer.prepare(job, environment)
        never = self.dispatch.pool.never_fits(prepared.request)
        if never is None and prepared.request.disk and self.diskroom is not None:
            never = self.diskroom.never_fits(prepared.request.disk)
        if never is not None and prepared.error is None:
            prepared.error = f"it can never start on this machine: it {never}"
        await self._reusable(prepared)
        env_hash = prepared.env_spec.content_hash if prepared.env_spec else None
        alike = alike_key(prepared.name, prepared.spec, prepared.command, env_hash)
        prepared.spec["alike"] = alike  # runs like it: their history makes its estimate
        if self.estimates is not None:
            prepared.spec["estimate"] = self.estimates.of(alike)
        labels = {**prepared.spec.get("settings", {}).get("labels", {}), **job.labels}
        if labels:  # the request's over the declared ones, key by key
            prepared.spec["labels"] = labels
        for dependency in job.after:
            if self.ledger.store.get_run(dependency) is None:
                self.preparer.discard(prepared)
                raise InvalidRequest(
                    f"--after {dependency}: no run with that id (`evd ps --all` lists runs)"
                )
        return prepared

    @staticmethod
    async def _reusable(prepared: Prepared) -> None:
        """Mark a job that declares ``reusable`` for warm workers (``spec["worker"]``).

        Only a job with a function to call can be reused; a plain script runs cold,
        with a note in its log.
        """
        settings = (prepared.spec or {}).get("settings", {})
        declared = settings.get("reusable")
        if not declared or prepared.error is not None:
            return
        if settings.get("network") == "none":  # a worker would share the host's network
            prepared.notes.append("it declares reusable and network = 'none': it runs on its own")
            return
        if prepared.kind not in ("job", "function") or prepared.staging is None:
            prepared.notes.append(
                "it declares reusable, but only a job's function can be called by a warm"
                " worker: it runs on its own"
            )
            return
        key = await asyncio.to_thread(worker_key, prepared)
        prepared.spec["worker"] = {**declared, "key": key}

    def _launch(self, run_ids: list[int], prepared: Prepared) -> None:
        """Stored runs onward: failed with the preparation's error, else built or queued."""
        if prepared.error is not None:
            for run_id in run_ids:
                self.ledger.fail_before_start(run_id, prepared.error, prepared.failed_by)
            self.ledger.flush()
            return
        for run_id in run_ids:
            record = self.ledger.get(run_id)
            if self.admission.admit(record):
                self.admission.queue_or_build(record, tick=False)
        self.dispatch.tick()

    def _store_prepared(
        self, prepared: Prepared, also: AlsoWrite | None = None, cache_key: str | None = None
    ) -> int:
        """Insert the run (and ``also``'s record of it), move its code into its folder, commit.

        One commit carries it with whatever else is pending; a failure takes
        back this run alone.
        """
        run_id = None
        try:
            with self.ledger.undoable():
                run_id = self._insert(
                    prepared, prepared.command, prepared.name, cache_key=cache_key
                )
                if also is not None:
                    self.ledger.write(lambda store: also(store, run_id))
            self.ledger.flush()  # durable before anyone learns the id
        except BaseException:
            if run_id is not None:
                shutil.rmtree(self.ledger.state.run_dir(run_id), ignore_errors=True)
            raise
        return run_id

    def _store_group(
        self,
        prepared: Prepared,
        commands: list[list[str]],
        keys: list[str | None],
        parent: int | None,
    ) -> tuple[int, list[int]]:
        """Insert a group and one run per item's command (its own copy of the code), commit once."""
        spec = {key: prepared.spec.get(key) for key in ("source", "function", "kind")}
        run_ids: list[int] = []
        try:
            with self.ledger.undoable():
                group_id = self.ledger.write(
                    lambda store: store.insert_group(
                        name=prepared.name,
                        size=len(commands),
                        created_at=self.clock(),
                        spec=spec,
                        parent_run=parent,
                    )
                )
                for index, (command, key) in enumerate(zip(commands, keys, strict=True)):
                    name = f"{prepared.name}[{index}]"
                    # The staged code moves into the first run's folder; later runs copy it.
                    first = self.ledger.state.run_dir(run_ids[0]) if run_ids else None
                    group = (group_id, index)
                    run_ids.append(
                        self._insert(prepared, command, name, group, first, cache_key=key)
                    )
            self.ledger.flush()
        except BaseException:
            for run_id in run_ids:
                shutil.rmtree(self.ledger.state.run_dir(run_id), ignore_errors=True)
            raise
        return group_id, run_ids

    def _insert(
        self,
        prepared: Prepared,
        command: list[str],
        name: str,
        group: tuple[int, int] | None = None,
        code_from: Path | None = None,
        *,
        cache_key: str | None = None,
    ) -> int:
        """Insert one run (uncommitted) and give it its folder: the staged code or a copy."""
        group_id, group_index = group or (None, None)
        run_id = self.ledger.insert(
            at=self.clock(),
            name=name,
            command=command,
            cwd=prepared.cwd,
            env=prepared.env,
            priority=prepared.priority,
            timeout=prepared.timeout,
            spec=prepared.spec or None,
            env_hash=prepared.env_spec.content_hash if prepared.env_spec else None,
            resources=prepared.request.to_dict(),
            policy=prepared.policy.to_dict(),
            group_id=group_id,
            group_index=group_index,
            cache_key=cache_key,
        )
        run_dir = self.ledger.state.run_dir(run_id)
        try:
            self.folders.place(run_dir)  # a leftover of a rolled-back insert is replaced
            if prepared.staging is not None:
                placed = prepared.placed(run_dir, command)
                self.ledger.update(run_id, command=placed.command, cwd=placed.cwd, spec=placed.spec)
                if code_from is None:
                    move_contents(prepared.staging, run_dir)
                else:
                    shutil.copytree(code_from / CODE_DIR, run_dir / CODE_DIR, symlinks=True)
            for note in prepared.notes:
                note_in_log(run_dir, f"evd: note: {note}")
            if prepared.error is None:
                secrets.save_for_run(run_dir, prepared.shell_secrets)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return run_id


def job_environment(request: SubmitRequest, spec: specfile.JobSpec | None) -> str | None:
    """The evd environment a submit names (``--env``, else a spec's ``env = "NAME"``)."""
    return spec.request.environment if spec is not None else request.environment


def move_contents(source: Path, target: Path) -> None:
    """Move what folder ``source`` holds into folder ``target``, then remove ``source``."""
    for name in os.listdir(source):
        os.replace(source / name, target / name)
    source.rmdir()


def replayable(request: SubmitRequest) -> dict[str, Any]:
    """The request as kept with its run, for re-runs: never the submitter's environment."""
    names = [field.name for field in dataclasses.fields(request) if field.name != "env"]
    kept = {name: getattr(request, name) for name in names}
    return {key: value for key, value in kept.items() if value is not None and value != []}
