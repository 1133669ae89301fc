"""The runner's side of warm workers: a run's client, and the FIFOs it talks through.

A run handed to a warm worker (``evd.sdk.worker``) keeps its own shim, so evd
watches, times out, cancels and concludes it as any other run. The shim's job
is ``CLIENT``: a few lines of ``sh`` (a Python client would cost ~30 ms a run)
that write ``PID RUN_DIR`` into the worker's ``requests`` FIFO and wait for the
exit code on the run's ``done`` FIFO, then exit with it. The worker holds
``done`` open while it serves the run, so if the worker dies the client reads
end-of-file and fails the run with a clear line; if the worker was gone before
the client could reach it, evd stops the run (it watches the worker).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from evd.sdk.worker import CALL_FILE, DONE_FIFO, EVENTS, REQUESTS

CLIENT_MARKER = "evd-worker-client"
WORKER_DIED = 70  # EX_SOFTWARE: the client's code when its worker ended mid-call
WORKER_ENDED = "worker-ended"  # in a run's folder: its worker ended before the call returned

CLIENT = """\
w=$1 d=$2
printf '%s %s\\n' "$$" "$d" >"$w/requests" || exit 70
IFS= read -r s <"$d/done"
case $s in
''|*[!0-9]*)
  : >"$d/worker-ended"
  echo "evd: the warm worker running this call ended before it returned" \
    "(its log: $w/output.log)" >&2
  exit 70 ;;
esac
exit "$s"
"""


def client_command(worker_folder: Path, run_dir: Path) -> list[str]:
    """The command a run on a worker runs under its shim."""
    return ["/bin/sh", "-c", CLIENT, CLIENT_MARKER, str(worker_folder), str(run_dir)]


def hand_over(run_dir: Path, argv: list[str], env: dict[str, str], cwd: str) -> None:
    """Write what the worker needs to call the run (``call.json``) and make its ``done`` FIFO.

    ``call.json`` holds the run's variables (secrets included): it is private,
    and the worker removes it once read.
    """
    call: dict[str, Any] = {"argv": argv, "env": env, "cwd": cwd}
    path = run_dir / CALL_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(call, out)
    done = run_dir / DONE_FIFO
    done.unlink(missing_ok=True)
    os.mkfifo(done, 0o600)


def make_worker_folder(folder: Path) -> None:
    """A worker's folder with its ``requests`` and ``events`` FIFOs."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (REQUESTS, EVENTS):
        os.mkfifo(folder / name, 0o600)


def tell_to_exit(folder: Path) -> bool:
    """Ask the worker of ``folder`` to exit after the requests before this; whether it heard."""
    try:
        fd = os.open(folder / REQUESTS, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, b"exit\n")
    except OSError:
        return False
    finally:
        os.close(fd)
    return True
