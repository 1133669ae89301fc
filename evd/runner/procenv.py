"""Reading a job's environment back from ``/proc`` (to re-adopt it after a crash)."""

from __future__ import annotations


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


def devices_of(variables: dict[str, str]) -> list[int]:
    """The GPU indexes in a job's ``CUDA_VISIBLE_DEVICES`` (evd writes indexes)."""
    text = variables.get("CUDA_VISIBLE_DEVICES", "")
    return [int(item) for item in text.split(",") if item.strip().isdigit()]
