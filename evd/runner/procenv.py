"""Reading a job's environment back from ``/proc`` (to re-adopt it after a crash)."""

from __future__ import annotations

from collections.abc import Mapping


def job_variables(pid: int) -> dict[str, str]:
    """The environment process ``pid`` started with (``{}`` if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    variables: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep:
            variables[key.decode(errors="replace")] = value.decode(errors="replace")
    return variables


def devices_of(variables: dict[str, str], uuids: Mapping[str, int] | None = None) -> list[int]:
    """The GPU indexes in a job's ``CUDA_VISIBLE_DEVICES`` (indexes, or UUIDs in ``uuids``)."""
    found = []
    for item in (part.strip() for part in variables.get("CUDA_VISIBLE_DEVICES", "").split(",")):
        if item.isdigit():
            found.append(int(item))
        elif uuids and item in uuids:
            found.append(uuids[item])
    return found
