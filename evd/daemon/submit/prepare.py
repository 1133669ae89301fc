"""Submit-time preparation of a job file: snapshot, declarations, settings, environment.

For ``evd run FILE.py[:FUNCTION]`` (and every trigger that submits a file):

1. the file is copied into a staging folder (``code/``) that becomes the run's
   folder: editing the source after queueing changes nothing for the run;
2. its declarations are read: a PEP 723 block statically, ``Env``/``Job``
   declarations by ``evd.sdk.declare`` in a sandboxed interpreter (only when
   the file imports ``evd`` or ``ev``);
3. the settings are layered (see ``evd.daemon.submit.layering``), included paths copied, volumes
   and secrets checked, and the Python and packages turned into an ``EnvSpec``.

A mistake in the file (syntax, a bad declaration, no ``@job.main()``, an unknown
volume, a missing secret or Python) does not reject the submit: the run is
recorded as failed with the reason, so a dropped or scheduled file always
leaves a record of what went wrong.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

from evd.daemon.envs.builds import BUILD_LOG
from evd.daemon.envs.envmanager import Environments, describe_spec
from evd.daemon.submit import dataplan, secrets, volumes
from evd.daemon.submit.declared import USES_SDK, DeclarationReader, choose_job
from evd.daemon.submit.layering import layer, on_cluster, policy_of
from evd.daemon.submit.prepared import CODE_DIR, CopyFailed, Prepared, copying
from evd.daemon.submit.validate import Job
from evd.environments import catalog
from evd.environments.pep723 import read_script
from evd.environments.project import project_settings
from evd.environments.pythons import NoPython
from evd.environments.settings import JobSettings, settings_from_table
from evd.models import FailedBy
from evd.paths import StateDir
from evd.resources.request import Request
from evd.runner.netns import Isolation
from evd.sdk.checks import DeclarationError
from evd.sdk.launch import SCRIPT
from evd.store import Store

MAX_FILE_BYTES = 10 * 1024 * 1024


class Preparer:
    """Prepares submissions for intake (runs on the event loop)."""

    def __init__(
        self,
        state: StateDir,
        store: Store,
        environments: Environments,
        secret_patterns: tuple[str, ...] = secrets.SECRET_LOOKING,
        isolation: Isolation | None = None,
    ) -> None:
        """Prepare into ``state``'s staging folder, resolving volumes from ``store``.

        Shell variables whose names match ``secret_patterns`` are kept out of
        the database like declared secrets.
        """
        self.state = state
        self.secret_patterns = secret_patterns
        self.isolation = isolation or Isolation()
        self.store = store
        self.environments = environments
        self.staging_root = state.root / "staging"
        self.reader = DeclarationReader(environments)

    async def prepare(self, job: Job, environment: str | None) -> Prepared:
        """Resolve a validated submission; user mistakes end up in ``Prepared.error``."""
        prepared = Prepared(
            name=job.name or "",
            kind="command" if job.file is None else "script",
            command=list(job.command),
            cwd=job.cwd,
            env=job.env,
            timeout=job.timeout,
            priority=job.priority or 0,
        )
        try:
            if job.file is None:
                await self._prepare_command(prepared, job, environment)
            else:
                await self._prepare_file(prepared, job, environment)
            declared = prepared.spec.get("settings", {})
            asked = {**declared.get("resources", {}), **job.resources}
            if prepared.spec.get("cluster"):  # GPUs are the cluster's: the driver needs none here
                asked = {k: v for k, v in asked.items() if k not in ("gpus", "gpu_memory")}
            prepared.request = Request.from_dict(asked)
            prepared.policy = policy_of(job, declared)
            self._hide_secret_looking(prepared)
        except NoPython as error:
            prepared.error, prepared.failed_by = str(error), FailedBy.BUILD
        except DeclarationError as error:
            prepared.error = str(error)
        except FileNotFoundError as error:
            prepared.error = f"the job file vanished while evd read it: {error.filename}"
        except CopyFailed as error:  # a full disk, permissions: not the job's fault
            prepared.error = f"evd could not copy the job into its run folder: {error}"
            prepared.failed_by = FailedBy.EVD
        except OSError as error:  # said by the step that raised it, whatever it was
            prepared.error = f"evd could not prepare the job: {error}"
            prepared.failed_by = FailedBy.EVD
        return prepared

    def _hide_secret_looking(self, prepared: Prepared) -> None:
        """Move the shell's secret-looking variables from the stored env to the run's file."""
        if prepared.env is None:
            return
        names = secrets.secret_looking(prepared.env, self.secret_patterns)
        if not names:
            return
        prepared.env = dict(prepared.env)  # the submitter's dict stays as it was
        prepared.shell_secrets.update({name: prepared.env.pop(name) for name in names})
        prepared.spec["hidden_variables"] = names

    # -- commands -----------------------------------------------------------------

    async def _prepare_command(self, prepared: Prepared, job: Job, environment: str | None) -> None:
        if environment is not None:
            env_layer = catalog.resolve(environment, job.cwd, self.environments.environ)
            source = f"--env {environment}"
        elif job.env_layer is not None:
            env_layer, source = job.env_layer, "the spec's env"
        elif job.layer is not None:  # a spec's declarations, and the shell's programs
            await self._apply(prepared, job, job.layer, source="", build=False)
            return
        else:
            return
        await self._apply(prepared, job, layer(env_layer, job.layer), source=source)

    # -- files --------------------------------------------------------------------

    async def _prepare_file(self, prepared: Prepared, job: Job, environment: str | None) -> None:
        assert job.file is not None
        origin = Path(job.file)
        staging = self.staging_root / uuid.uuid4().hex
        code = staging / CODE_DIR
        with copying():
            code.mkdir(parents=True)
        prepared.staging = staging
        prepared.name = job.name or origin.name
        prepared.spec = {"source": str(origin), "function": job.function}
        snapshot, source = self._snapshot(origin, code)
        prepared.spec["file"] = str(snapshot)
        block = read_script(source, origin.name)
        script = block.settings if block is not None else None
        if block is not None:
            prepared.notes.extend(block.notes)
        declared, entry = None, job.function
        if USES_SDK.search(source):
            declarations = await self.reader.declarations(snapshot, origin.parent, source)
            declared, entry = choose_job(declarations, job)
        decl_settings = (
            settings_from_table(declared["settings"], f"the Job in {origin.name}")
            if declared
            else None
        )
        env_layer, source_name = self._envlayer(
            environment=environment,
            job=job,
            origin=origin,
            declared=declared,
            decl_settings=decl_settings,
            script=script,
        )
        settings = layer(env_layer, script, decl_settings, job.layer)
        if declared is not None and not job.name_given:
            prepared.name = declared["name"]
        self._copy_includes(settings.include, origin.parent, code)
        await self._apply(prepared, job, settings, source=source_name)
        assert prepared.env_spec is not None
        python = str(self.environments.builder.python(prepared.env_spec.content_hash))
        if entry is not None:
            prepared.kind = "job" if declared is not None else "function"
            prepared.command = [
                python, "-m", "evd.sdk.launch", str(snapshot), entry,
                "--path", str(origin.parent), "--", *job.args,
            ]  # fmt: skip
            if prepared.kind == "job":
                prepared.cwd = str(code)  # as on the ev platform: the code's root
        else:
            # Through the launcher too, which notes when the script is done (see evd.sdk.launch).
            prepared.command = [
                python,
                "-m",
                "evd.sdk.launch",
                str(snapshot),
                SCRIPT,
                "--",
                *job.args,
            ]
        prepared.spec["kind"] = prepared.kind
        prepared.spec["entry"] = entry

    @staticmethod
    def _snapshot(origin: Path, code: Path) -> tuple[Path, str]:
        """Copy the job file into ``code``; return the copy and its text."""
        size = origin.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DeclarationError(
                f"{origin.name} is {size // (1024 * 1024)} MiB; a job file over"
                f" {MAX_FILE_BYTES // (1024 * 1024)} MiB is not a script evd will run"
            )
        snapshot = code / origin.name
        with copying():
            shutil.copy2(origin, snapshot)
        try:
            return snapshot, snapshot.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise DeclarationError(
                f"{origin.name} is not UTF-8 text; is it really a Python script?"
            ) from None

    def _envlayer(
        self,
        *,
        environment: str | None,
        job: Job,
        origin: Path,
        declared: dict[str, Any] | None,
        decl_settings: JobSettings | None,
        script: JobSettings | None,
    ) -> tuple[JobSettings, str]:
        """Where the Python and packages come from, most specific first."""
        if environment is not None:
            return catalog.resolve(environment, job.cwd, self.environments.environ), environment
        if job.env_layer is not None:
            return job.env_layer, "the spec's env"
        if declared is not None and declared["has_env"] and decl_settings is not None:
            return decl_settings, origin.name  # "the Env declared in this file"
        if script is not None:
            return script, "pep723"
        if job.function is not None:
            project = project_settings(origin)
            if project is not None:
                return project, "project"
        return self.environments.base(), catalog.BASE

    def _copy_includes(self, include: tuple[str, ...], origin_dir: Path, code: Path) -> None:
        for relative in include:
            source = origin_dir / relative
            target = code / relative
            if source.is_dir():
                with copying():
                    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
            elif source.is_file():
                with copying():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
            else:
                raise DeclarationError(f"include path {relative!r} not found (looked for {source})")

    # -- both ---------------------------------------------------------------------

    async def _apply(
        self,
        prepared: Prepared,
        job: Job,
        settings: JobSettings,
        *,
        source: str,
        build: bool = True,
    ) -> None:
        """Settings → the run: env spec, policies, volumes, secrets, a Ray cluster.

        ``build=False``: a command with no environment (it runs with the shell's
        programs) that still declares variables, volumes, secrets or data.
        """
        settings = on_cluster(settings, job.cluster or settings.cluster)
        if settings.network == "none":
            await self._check_isolation(settings)
        if prepared.timeout is None:
            prepared.timeout = settings.timeout
        if job.priority is None and settings.priority is not None:
            prepared.priority = settings.priority
        vols = volumes.resolve(settings.volumes, self.store)
        for volume in vols:  # hashing a file may take a while: off the loop
            volume["version"] = await asyncio.to_thread(volumes.version_of, Path(volume["path"]))
        shell, missing = secrets.gather(
            settings.secrets, self.state.root / secrets.SECRETS_FILE, job.env
        )
        if missing:
            raise DeclarationError(
                f"secret(s) {', '.join(missing)} not found: add them to"
                f" {self.state.root / secrets.SECRETS_FILE} (mode 0600) or export them"
                " in the shell you submit from"
            )
        prepared.shell_secrets = shell
        await self._plan_data(prepared, job, settings)
        if prepared.env is not None:
            # Whatever their source, secrets' values never reach the database.
            hidden = set(settings.secrets)
            prepared.env = {k: v for k, v in prepared.env.items() if k not in hidden}
        prepared.spec.update(
            {"settings": settings.to_dict(), "volumes": vols, "secrets": list(settings.secrets)}
        )
        if build:
            log = None if prepared.staging is None else prepared.staging / BUILD_LOG
            spec = await self.environments.fetched_spec_for(settings, log)
            prepared.env_spec = spec
            prepared.spec["env"] = describe_spec(spec, settings.name, source)
        if settings.cluster:
            prepared.spec["cluster"] = settings.cluster

    async def _plan_data(self, prepared: Prepared, job: Job, settings: JobSettings) -> None:
        """Inputs found and outputs named (``evd.daemon.submit.dataplan``), S3 credentials kept."""
        if not settings.inputs and not settings.outputs:
            return
        prepared.spec["inputs"] = await dataplan.plan_inputs(settings, job.cwd, self.store)
        prepared.spec["outputs"] = list(settings.outputs)
        names, required = dataplan.credential_secrets(settings)
        file = self.state.root / secrets.SECRETS_FILE
        shell, missing = secrets.gather(names, file, job.env)
        absent = [name for name in missing if name in required]
        if absent:
            raise DeclarationError(
                f"S3 credentials {', '.join(absent)} not found: add them to {file} (mode 0600)"
                " or export them in the shell you submit from"
            )
        if names:
            prepared.spec["data_secrets"] = names
            prepared.shell_secrets.update(shell)

    async def _check_isolation(self, settings: JobSettings) -> None:
        """Refuse ``network = "none"`` where it cannot be honoured (said at submit)."""
        if settings.cluster:
            raise DeclarationError(
                "network = 'none' and a Ray cluster do not go together: the job must reach it"
            )
        reason = await asyncio.to_thread(self.isolation.unavailable)
        if reason is not None:
            raise DeclarationError(reason)

    def discard(self, prepared: Prepared) -> None:
        """Remove a staging folder that will not become a run's."""
        if prepared.staging is not None:
            shutil.rmtree(prepared.staging, ignore_errors=True)
