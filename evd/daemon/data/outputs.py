"""Publishing a run's outputs when it has succeeded: to local folders and to S3.

An output names a path under the run's outputs folder (``EVD_OUTPUT_DIR``) and
destinations: a local folder pattern (``~/results/{name}/{run_id}/``), where
files are hard-linked when the folder is on the same filesystem and copied
when it is not, or an ``s3://BUCKET/PREFIX/`` (the pattern's placeholders work
there too). Blocking: run it in a thread. What went where is written to the
run's ``published.json``; the run's own files stay where they are either way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evd.daemon.data import objects

PUBLISHED = "published.json"
OUTPUTS_DIR = "outputs"  # evd.runner.folders.OUTPUT_DIR


class PublishFailed(Exception):
    """An output could not be published; the message is the run's reason."""


def destinations(output: dict[str, Any]) -> list[str]:
    """Where an output goes (none: it is only listed)."""
    return list(output.get("to", []))


def published(run_dir: Path) -> list[dict[str, Any]] | None:
    """What was published for the run (``None``: nothing)."""
    try:
        found = json.loads((run_dir / PUBLISHED).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, list) else None


def expand(pattern: str, *, name: str, run_id: int, output: str, at: float) -> str:
    """A destination with its placeholders filled (``{name}`` made safe for a path)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "run"
    date = time.strftime("%Y-%m-%d", time.localtime(at))
    return pattern.format(name=safe, run_id=run_id, output=output, date=date)


def _link_or_copy(source: str, target: str) -> str:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: a copy
        shutil.copy2(source, target)
    return target


def _to_folder(source: Path, folder: Path) -> int:
    """Put ``source`` (a file or a folder's files) into ``folder``; how many files."""
    folder.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        target = folder / source.name
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        _link_or_copy(str(source), str(target))
        return 1
    target = folder / source.name
    shutil.copytree(source, target, copy_function=_link_or_copy, dirs_exist_ok=True)
    return sum(1 for path in target.rglob("*") if path.is_file())


def publish(
    run_id: int,
    run_dir: Path,
    name: str,
    outputs: list[dict[str, Any]],
    credentials: Callable[[str], dict[str, str]],
) -> list[dict[str, Any]]:
    """Publish every output that has destinations; ``PublishFailed`` with the reason.

    ``credentials(prefix)``: the S3 credentials of that secrets' prefix.
    """
    done: list[dict[str, Any]] = []
    at = time.time()
    for output in outputs:
        targets = destinations(output)
        if not targets:
            continue
        source = run_dir / OUTPUTS_DIR / output["path"]
        if not source.exists():
            raise PublishFailed(
                f"output {output['name']}: the job wrote nothing at {source} (its outputs"
                " folder is $EVD_OUTPUT_DIR)"
            )
        for pattern in targets:
            where = expand(pattern, name=name, run_id=run_id, output=output["name"], at=at)
            try:
                if where.startswith("s3://"):
                    bucket, prefix = objects.split(where)
                    store = objects.store(
                        bucket, output, credentials(output.get("credentials", "AWS"))
                    )
                    keys = objects.upload(store, source, prefix)
                    done.append({"output": output["name"], "to": where, "files": len(keys)})
                else:
                    folder = Path(where).expanduser()
                    files = _to_folder(source, folder)
                    done.append(
                        {"output": output["name"], "to": str(folder / source.name), "files": files}
                    )
            except (objects.ObjectsFailed, OSError) as error:
                raise PublishFailed(
                    f"publishing output {output['name']} to {where} failed: {error}"
                    f" (the files stay in {source.parent})"
                ) from None
    (run_dir / PUBLISHED).write_text(json.dumps(done))
    return done
