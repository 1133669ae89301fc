"""Named volumes: data folders (or files) that jobs ask for by name.

A run records each volume's path and *version* at submit: the content hash of
a file up to 64 MiB, otherwise the newest modification time found in the
first 10,000 entries of the folder (a cheap, honest "has it changed" mark).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from evd.models import iso
from evd.sdk.checks import DeclarationError, volume_env_var
from evd.store import Store

HASH_LIMIT = 64 * 1024 * 1024
SCAN_LIMIT = 10_000


def version_of(path: Path) -> str:
    """``sha256:…`` for a small file, else ``mtime:…`` of the newest entry seen."""
    if path.is_file() and path.stat().st_size <= HASH_LIMIT:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()[:16]
    newest = path.stat().st_mtime
    seen = 0
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            seen += 1
            try:
                newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
            except OSError:
                continue
        if seen >= SCAN_LIMIT:
            break
    return "mtime:" + (iso(newest) or "")


def resolve(names: tuple[str, ...], store: Store) -> list[dict[str, Any]]:
    """Each volume's name, path and variable; ``DeclarationError`` if one is unknown.

    ``version`` is left for the caller to fill with ``version_of`` (it may read
    a whole file, so the daemon does it off its loop).
    """
    found = []
    for name in names:
        volume = store.get_volume(name)
        if volume is None:
            known = ", ".join(v.name for v in store.list_volumes()) or "none yet"
            raise DeclarationError(
                f"unknown volume {name!r} (known: {known});"
                f" define it with `evd volumes add {name} PATH`"
            )
        path = Path(volume.path)
        if not path.exists():
            raise DeclarationError(
                f"volume {name!r} points at {path}, which does not exist;"
                f" fix it with `evd volumes add {name} PATH`"
            )
        found.append(
            {
                "name": name,
                "path": str(path),
                "env_var": volume_env_var(name),
                "version": "",
            }
        )
    return found
