"""A free TCP port on loopback for a multi-GPU job's ``MASTER_PORT``."""

from __future__ import annotations

import socket

MASTER_ADDR = "127.0.0.1"


def free_port(taken: set[int]) -> int:
    """A port nothing listens on now and no other running job was given.

    The kernel picks it (bind to port 0), so two jobs never both get 29500;
    ``taken`` covers the gap until a job binds the port it was given.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((MASTER_ADDR, 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port
    raise OSError("found no free TCP port on loopback for MASTER_PORT")
