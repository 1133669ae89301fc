"""S3 objects in and out, through obstore.

obstore was chosen by measurement (2026-12-01, this machine, against moto's
server): importing it and making a store takes 16 ms against boto3's 535 ms,
a 64 MiB object streams in 0.11 s with either, and it installs in 15 MB
against boto3 and botocore's 31 MB. Blocking calls: run them in a thread.

``s3://BUCKET/KEY`` names one object; ``s3://BUCKET/PREFIX/`` (a trailing
slash) every object under the prefix. Credentials are read by the caller from
evd's secrets (``PREFIX_ACCESS_KEY_ID``, ``PREFIX_SECRET_ACCESS_KEY``,
``PREFIX_SESSION_TOKEN``); without them requests go unsigned (public buckets).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evd.sdk.dataspec import S3_URL

CHUNK = 8 * 1024 * 1024


class ObjectsFailed(Exception):
    """An S3 request failed; the message says why, for the run's reason."""


def split(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` → ``("bucket", "a/b")``."""
    match = S3_URL.fullmatch(url)
    if match is None:
        raise ObjectsFailed(f"not an s3:// address: {url!r}")
    return match.group(1), (match.group(2) or "/")[1:]


def store(bucket: str, options: dict[str, Any], credentials: dict[str, str]) -> Any:
    """An obstore ``S3Store`` for ``bucket`` (``options``: endpoint, region)."""
    from obstore.store import S3Store  # noqa: PLC0415 - only for jobs that use S3

    config: dict[str, Any] = {"region": options.get("region") or "us-east-1"}
    endpoint = options.get("endpoint")
    if endpoint:
        config["endpoint"] = endpoint
    if credentials:
        config["access_key_id"] = credentials.get("ACCESS_KEY_ID", "")
        config["secret_access_key"] = credentials.get("SECRET_ACCESS_KEY", "")
        if credentials.get("SESSION_TOKEN"):
            config["session_token"] = credentials["SESSION_TOKEN"]
    else:
        config["skip_signature"] = True
    plain_http = bool(endpoint and endpoint.startswith("http://"))  # a local server
    return S3Store(
        bucket, client_options={"allow_http": plain_http}, retry_config={"max_retries": 2}, **config
    )


_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket")
_STATUS = re.compile(r"status code: (\d{3}[ A-Za-z]*)")


def _said(error: Exception) -> str:
    """What went wrong, in one line: S3's error code or the HTTP status, and obstore's gist.

    obstore's messages go on with the request, the response body and a debug dump.
    """
    text = str(error).strip()
    gist = text.splitlines()[0].split(": Error performing")[0] if text else type(error).__name__
    code = next((code for code in _CODES if code in text), None)
    status = _STATUS.search(text)
    said = code or (status.group(1).strip() if status else None)
    return f"{said} ({gist})" if said else gist


def listing(objects: Any, key: str) -> list[dict[str, Any]]:
    """The objects ``key`` names (one, or every one under a prefix): path, size, etag."""
    import obstore  # noqa: PLC0415

    try:
        if key.endswith("/") or not key:
            found = [meta for batch in obstore.list(objects, prefix=key or None) for meta in batch]
            if not found:
                raise ObjectsFailed(f"no objects under the prefix {key!r}")
        else:
            found = [obstore.head(objects, key)]
    except ObjectsFailed:
        raise
    except FileNotFoundError:
        raise ObjectsFailed(f"no object {key!r} (404)") from None
    except Exception as error:  # obstore raises its own kinds for denials and the network
        raise ObjectsFailed(_said(error)) from None
    return [{"path": m["path"], "size": m["size"], "etag": m.get("e_tag")} for m in found]


def version_of(found: list[dict[str, Any]]) -> str:
    """One value for a listing: changes when any object does."""
    text = json.dumps(sorted((m["path"], m["etag"], m["size"]) for m in found))
    return hashlib.sha256(text.encode()).hexdigest()


def download(
    objects: Any,
    found: list[dict[str, Any]],
    key: str,
    folder: Path,
    *,
    note: Callable[[str], None],
    should_stop: Callable[[], bool],
) -> Path:
    """Fetch ``found`` into ``folder``: one object as ``folder/data``, a prefix under its paths."""
    import obstore  # noqa: PLC0415

    single = not (key.endswith("/") or not key)
    for meta in found:
        relative = "data" if single else meta["path"][len(key) :]
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            response = obstore.get(objects, meta["path"])
            with open(target, "wb") as out:
                for chunk in response.stream(min_chunk_size=CHUNK):
                    if should_stop():
                        raise ObjectsFailed("the run was cancelled while its input downloaded")
                    out.write(chunk)
        except ObjectsFailed:
            raise
        except Exception as error:
            raise ObjectsFailed(f"{meta['path']}: {_said(error)}") from None
        note(f"fetched {meta['path']} ({meta['size']} bytes)")
    return folder / "data" if single else folder


def upload(objects: Any, source: Path, prefix: str) -> list[str]:
    """Put ``source`` (a file, or every file under a folder) under ``prefix``; the keys written."""
    import obstore  # noqa: PLC0415

    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    written = []
    for path in files:
        # As in a local folder: a file by its name, a folder's files under the folder's name.
        relative = path.name if path == source else f"{source.name}/{path.relative_to(source)}"
        key = prefix.rstrip("/") + "/" + relative if prefix else relative
        try:
            with open(path, "rb") as handle:
                obstore.put(objects, key, handle)
        except Exception as error:
            raise ObjectsFailed(f"{key}: {_said(error)}") from None
        written.append(key)
    return written


def credentials_of(prefix: str, values: dict[str, str]) -> dict[str, str]:
    """The S3 credentials ``PREFIX_*`` found in ``values`` (names less the prefix)."""
    found = {}
    for name in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"):
        value = values.get(f"{prefix}_{name}")
        if value:
            found[name] = value
    return found
