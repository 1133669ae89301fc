"""Staging a run's inputs before it starts: the ``staging`` step.

Each input ends up at ``RUN_DIR/inputs/TARGET`` (the job also finds it in
``EVD_INPUT_<NAME>``), as a link to where its bytes are:

* ``path`` and ``volume``: the path itself (checked to exist again);
* ``url``: a file in evd's input cache (``$EVD_HOME/inputs/``), named by its
  SHA-256 and kept by URL. With a declared ``sha256`` a cached copy is used
  as it is; without, the server is asked whether it changed (ETag,
  Last-Modified) and only a change is downloaded again. A download resumes
  what an earlier try left;
* ``s3``: an object, or every object under a prefix, cached by the objects'
  ETags (listed first: an unchanged object is not fetched again).

Cached bytes are read-only and shared by every run that names them; a new
version of a URL lands beside the old one, so a running job's input never
changes under it. Two runs staging one input at once fetch it once. What was
staged, from where, and whether it came from the cache is written to
``inputs/staged.json`` (``evd show``, the run's JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evd.daemon.data import objects
from evd.daemon.data.fetch import FetchFailed, fetch, unchanged
from evd.units import format_duration, format_size

INPUTS_DIR = "inputs"
STAGED = "staged.json"
Note = Callable[[str], None]


class StagingFailed(Exception):
    """An input could not be staged; the message is the run's reason."""


def input_path(run_dir: Path, item: dict[str, Any]) -> Path:
    """Where the job finds ``item``."""
    return run_dir / INPUTS_DIR / str(item["target"])


def staged(run_dir: Path) -> list[dict[str, Any]] | None:
    """What was staged for the run (``None``: nothing yet)."""
    try:
        found = json.loads((run_dir / INPUTS_DIR / STAGED).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, list) else None


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _read_only(path: Path) -> None:
    for file in [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file()):
        file.chmod(0o444)


class Stager:
    """Stages inputs into run folders, through the cache under ``root``."""

    def __init__(self, root: Path, credentials: Callable[[int, list[str]], dict[str, str]]) -> None:
        """Cache under ``root``; ``credentials(run_id, names)`` reads a run's S3 secrets."""
        self.root = root
        self.credentials = credentials
        self._locks: dict[str, asyncio.Lock] = {}
        self._stopped: set[int] = set()

    def needs(self, spec: dict[str, Any] | None, run_dir: Path) -> bool:
        """Whether a run declares inputs that are not staged yet."""
        return bool((spec or {}).get("inputs")) and staged(run_dir) is None

    def stop(self, run_id: int) -> None:
        """Give up staging ``run_id`` (it was cancelled): downloads stop at the next chunk."""
        self._stopped.add(run_id)

    async def try_stage(
        self, run_id: int, run_dir: Path, spec: dict[str, Any], note: Note
    ) -> str | None:
        """Stage every input of the run; why it failed (``None``: all staged)."""
        try:
            await self.stage(run_id, run_dir, spec, note)
        except StagingFailed as error:
            return str(error)
        return None

    async def stage(self, run_id: int, run_dir: Path, spec: dict[str, Any], note: Note) -> None:
        """Stage every input of the run; ``StagingFailed`` with the reason."""
        self._stopped.discard(run_id)
        folder = run_dir / INPUTS_DIR
        folder.mkdir(exist_ok=True)
        report = []
        for item in spec["inputs"]:
            started = time.monotonic()
            said = f"input {item['name']}"
            try:
                source, cached, facts = await self._one(run_id, item, spec, note)
            except (FetchFailed, objects.ObjectsFailed, OSError) as error:
                raise StagingFailed(f"{said}: {error}") from None
            link = input_path(run_dir, item)
            link.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(source)
            seconds = time.monotonic() - started
            size = facts.get("size")
            how = "from the cache" if cached else f"in {format_duration(seconds)}"
            note(
                f"staged {item['name']} at {link}"
                + (f" ({format_size(size)}, {how})" if size is not None else f" ({how})")
            )
            report.append({"name": item["name"], "path": str(link), "source": str(source),
                           "cached": cached, "seconds": round(seconds, 3), **facts})  # fmt: skip
        (folder / STAGED).write_text(json.dumps(report))

    async def _one(
        self, run_id: int, item: dict[str, Any], spec: dict[str, Any], note: Note
    ) -> tuple[Path, bool, dict[str, Any]]:
        """Where the input's bytes are, whether they came from the cache, and facts about them."""
        if "path" in item:
            path = Path(item["path"])
            if not path.exists():
                what = f"volume {item['volume']}'s folder" if "volume" in item else "it"
                raise StagingFailed(f"input {item['name']}: {path} ({what}) does not exist")
            return path, False, {"version": item.get("version")}
        stop = lambda: run_id in self._stopped  # noqa: E731
        say: Note = lambda text: note(f"{item['name']}: {text}")  # noqa: E731
        if "url" in item:
            key = _key("url", item["url"], item.get("sha256", ""))
            async with self._lock(key):
                return await asyncio.to_thread(self._url, item, self.root / key, say, stop)
        names = spec.get("data_secrets", [])
        values = self.credentials(run_id, names)
        prefix = item.get("credentials", "AWS")
        creds = objects.credentials_of(prefix, values)
        bucket, key = objects.split(item["s3"])
        place = _key("s3", item.get("endpoint", ""), bucket, key)
        async with self._lock(place):
            return await asyncio.to_thread(
                self._s3, item, bucket, key, creds, self.root / place, say, stop
            )

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    @staticmethod
    def _url(
        item: dict[str, Any], folder: Path, note: Note, stop: Callable[[], bool]
    ) -> tuple[Path, bool, dict[str, Any]]:
        folder.mkdir(parents=True, exist_ok=True)
        meta_file = folder / "meta.json"
        meta: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(meta_file.read_text())
        current = folder / meta["sha256"] if meta.get("sha256") else None
        if current is not None and current.is_file():
            declared = item.get("sha256")
            if declared or unchanged(item["url"], meta.get("etag"), meta.get("last_modified")):
                return current, True, {"size": current.stat().st_size, "sha256": meta["sha256"]}
        got = fetch(item["url"], folder / "download", sha256=item.get("sha256"), note=note,
                    should_stop=stop)  # fmt: skip
        final = folder / got.sha256
        os.replace(folder / "download", final)
        _read_only(final)
        meta = {"url": item["url"], "sha256": got.sha256, "size": got.size, "etag": got.etag,
                "last_modified": got.last_modified, "fetched_at": time.time()}  # fmt: skip
        tmp = folder / "meta.json.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, meta_file)
        facts = {"size": got.size, "sha256": got.sha256}
        if got.resumed_from:
            facts["resumed_from"] = got.resumed_from
        return final, False, facts

    @staticmethod
    def _s3(  # noqa: PLR0917 - one S3 input's parts, split once by the caller
        item: dict[str, Any],
        bucket: str,
        key: str,
        creds: dict[str, str],
        folder: Path,
        note: Note,
        stop: Callable[[], bool],
    ) -> tuple[Path, bool, dict[str, Any]]:
        store = objects.store(bucket, item, creds)
        found = objects.listing(store, key)
        version = objects.version_of(found)
        size = sum(int(m["size"]) for m in found)
        facts = {"size": size, "objects": len(found), "version": version[:16]}
        done = folder / version
        single = not (key.endswith("/") or not key)
        if done.is_dir():
            return (done / "data" if single else done), True, facts
        partial = folder / f"{version}.part"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        note(f"fetching {len(found)} object(s), {format_size(size)}, from s3://{bucket}/{key}")
        objects.download(store, found, key, partial, note=note, should_stop=stop)
        _read_only(partial)
        os.replace(partial, done)
        return (done / "data" if single else done), False, facts
