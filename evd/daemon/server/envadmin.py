"""``evd envs``: list, build ahead of time, prune (never what an active run needs)."""

from __future__ import annotations

import asyncio
import os
import shutil
from functools import partial
from typing import TYPE_CHECKING

from evd.daemon.submit.validate import validate
from evd.environments import catalog
from evd.environments.builder import READY_FILE, BuildFailed
from evd.environments.cudawheels import describe
from evd.errors import Conflict, InvalidRequest, NotFound
from evd.models import ACTIVE_STATES, EnvBuildRequest, EnvInfo, SubmitRequest, iso
from evd.sdk.checks import DeclarationError
from evd.store import Store
from evd.store.records import EnvRecord

if TYPE_CHECKING:
    from evd.daemon.engine import Engine


def list_envs(engine: Engine) -> list[EnvInfo]:
    """Every recorded venv with how many runs use it (active, and in all)."""
    active = engine.store.env_users(ACTIVE_STATES)
    total = engine.store.env_users()
    return [
        EnvInfo(
            hash=env.hash,
            python=env.python,
            requirements=env.requirements,
            size=env.size,
            build_seconds=env.build_seconds,
            built_at=iso(env.built_at) or "",
            last_used_at=iso(env.last_used_at),
            active_runs=active.get(env.hash, 0),
            runs=total.get(env.hash, 0),
            path=str(engine.environments.builder.path(env.hash)),
            torch=describe(engine.environments.builder.built_torch(env.hash)),
        )
        for env in engine.store.list_envs()
    ]


async def build_env(engine: Engine, request: EnvBuildRequest) -> EnvInfo:
    """Build the venv of a job file or a named environment, as a submit would."""
    cwd = request.cwd or os.getcwd()
    if request.file is not None:
        job = validate(SubmitRequest(file=request.file, cwd=cwd))
        prepared = await engine.intake.dry_run(job, request.environment)
        if prepared.error is not None:  # the file is there, but not a job evd can build
            raise Conflict(prepared.error)
        spec = prepared.env_spec
    elif request.environment is not None:
        try:
            settings = catalog.resolve(request.environment, cwd, engine.environments.environ)
            spec = engine.environments.spec_for(settings)
        except DeclarationError as error:
            raise NotFound(str(error)) from None
    else:
        raise InvalidRequest("give a job file or an environment name to build")
    if spec is None:
        raise Conflict("that job runs a plain command: it has no environment to build")
    builder = engine.environments.builder
    logs = engine.state.root / "builds"
    logs.mkdir(exist_ok=True)
    log_file = logs / f"{spec.content_hash}.log"
    try:
        built = await builder.ensure(spec, log_file)
    except BuildFailed as error:
        raise Conflict(f"the environment could not be built: {error}") from None
    if built is not None:
        record = EnvRecord(
            spec.content_hash,
            spec.interpreter.version_text,
            list(spec.requirements),
            built.size,
            built.seconds,
            engine.clock(),
            None,
        )
        engine.ledger.write(lambda store: store.put_env(record))
        engine.ledger.flush()
    return next(env for env in list_envs(engine) if env.hash == spec.content_hash)


async def prune_envs(engine: Engine, older_than: float) -> list[str]:
    """Remove venvs that no active run needs and that were not used for ``older_than`` s.

    Unfinished folders (a build that died with its daemon) go too, unless a
    build of that hash is running now.
    """
    builder = engine.environments.builder
    needed = set(engine.store.env_users(ACTIVE_STATES)) | set(engine.builds.waiting.values())
    cutoff = engine.clock() - older_than
    removed: list[str] = []
    known = set()
    for env in engine.store.list_envs():
        known.add(env.hash)
        last = env.last_used_at or env.built_at
        if env.hash in needed or builder.in_progress(env.hash) or last > cutoff:
            continue
        engine.ledger.write(partial(Store.delete_env, content_hash=env.hash))
        engine.ledger.flush()
        await asyncio.to_thread(shutil.rmtree, builder.path(env.hash), True)
        removed.append(env.hash)
    if builder.root.is_dir():
        for folder in builder.root.iterdir():
            name = folder.name
            if not folder.is_dir() or name in known or builder.in_progress(name):
                continue
            if name in needed and (folder / READY_FILE).exists():
                continue
            await asyncio.to_thread(shutil.rmtree, folder, True)
            removed.append(name)
    return removed
