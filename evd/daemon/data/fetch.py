"""Downloading one URL into a file: resumed, checked, and said as it goes.

Blocking (it runs in a thread). A ``.part`` file left by an earlier try is
resumed with a ``Range`` request when the server allows it; the SHA-256 is
computed as the bytes arrive (the part's bytes first), and compared with the
declared one before the file takes its name. ``should_stop`` is asked between
chunks, so a cancelled run does not keep downloading.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evd.units import format_size

CHUNK = 1024 * 1024
TIMEOUT = 30.0  # seconds without a byte before a download is given up
PROGRESS_EVERY = 2.0  # seconds between progress lines


class FetchFailed(Exception):
    """The URL could not be fetched as declared; the message says why, for the run's reason."""


@dataclass(frozen=True)
class Fetched:
    """What a download left: its size, checksum and the server's validators."""

    size: int
    sha256: str
    etag: str | None
    last_modified: str | None
    resumed_from: int  # bytes a part file already held


def _hash_of(path: Path) -> tuple[hashlib._Hash, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest, size


def fetch(
    url: str,
    target: Path,
    *,
    sha256: str | None,
    note: Callable[[str], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> Fetched:
    """Download ``url`` to ``target`` (through ``target.part``); ``FetchFailed`` with the reason."""
    import urllib.error  # noqa: PLC0415 - only when a URL is staged (the daemon's footprint)
    import urllib.request  # noqa: PLC0415

    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "evd"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the part is whole already
            return _finish(part, target, sha256, None, None, have)
        raise FetchFailed(f"{url} answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FetchFailed(f"could not reach {url}: {reason}") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0
        digest, _ = _hash_of(part) if resumed else (hashlib.sha256(), 0)
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        note(
            f"downloading {url} ({format_size(total) if total is not None else 'size unknown'}"
            + (f", resuming after {format_size(have)}" if resumed else "")
            + ")"
        )
        done, said = have, time.monotonic()
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while chunk := response.read(CHUNK):
                    if should_stop():
                        raise FetchFailed("the run was cancelled while its input downloaded")
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if time.monotonic() - said >= PROGRESS_EVERY:
                        said = time.monotonic()
                        of = f" of {format_size(total)}" if total else ""
                        note(f"{format_size(done)}{of}")
        except (OSError, TimeoutError) as error:  # the connection dropped: the part is kept
            raise FetchFailed(
                f"the download of {url} broke off after {format_size(done)}: {error}"
                " (a retry resumes it)"
            ) from None
        if total is not None and done < total:
            raise FetchFailed(
                f"the download of {url} ended after {format_size(done)} of {format_size(total)}"
                " (a retry resumes it)"
            )
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
    return _finish(part, target, sha256, etag, modified, have if resumed else 0, digest)


def _finish(  # noqa: PLR0917 - the download's facts, in one place
    part: Path,
    target: Path,
    sha256: str | None,
    etag: str | None,
    modified: str | None,
    resumed_from: int,
    digest: hashlib._Hash | None = None,
) -> Fetched:
    if digest is None:
        digest, _ = _hash_of(part)
    got = digest.hexdigest()
    if sha256 is not None and got != sha256:
        part.unlink(missing_ok=True)
        raise FetchFailed(f"its SHA-256 is {got}, not the declared {sha256}")
    size = part.stat().st_size
    os.replace(part, target)
    return Fetched(size, got, etag, modified, resumed_from)


def unchanged(url: str, etag: str | None, last_modified: str | None) -> bool:
    """Whether the server says ``url`` is still what was fetched (``304 Not Modified``)."""
    if etag is None and last_modified is None:
        return False
    import urllib.error  # noqa: PLC0415 - as in fetch
    import urllib.request  # noqa: PLC0415

    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "evd"})
    if etag is not None:
        request.add_header("If-None-Match", etag)
    if last_modified is not None:
        request.add_header("If-Modified-Since", last_modified)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT):
            return False  # 200: it changed (or the server ignores validators)
    except urllib.error.HTTPError as error:
        return error.code == 304
    except (urllib.error.URLError, OSError):
        return False
