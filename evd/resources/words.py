"""What a run asks for, in words: ``2 GPUs, 4 CPUs, 16.0 GiB``.

Apart from ``Request`` (a dataclass) so the CLI can say it from the API's JSON
without building one. Standard library only.
"""

from __future__ import annotations

from evd.units import GIB


def describe_request(cpus: float, memory: int, gpus: float, gpu_memory: int) -> str:
    """``2 GPUs, 4 CPUs, 16.0 GiB``; ``0.5 of a GPU, 1 CPU`` for a share of one."""
    parts = []
    whole = int(gpus) if gpus >= 1 else 0
    if whole:
        parts.append(f"{whole} GPU" + ("s" if whole > 1 else ""))
    elif 0 < gpus < 1:
        parts.append(f"{gpus:g} of a GPU")
    if gpu_memory:
        parts.append(f"{gpu_memory / GIB:.1f} GiB of GPU memory")
    parts.append(f"{cpus:g} CPU" + ("s" if cpus != 1 else ""))
    if memory:
        parts.append(f"{memory / GIB:.1f} GiB")
    return ", ".join(parts)
