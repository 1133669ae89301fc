"""``python -m evd.daemon OPTIONS``: the daemon process itself.

``evd daemon`` checks its flags, then replaces itself with this (same pid), so
the CLI never imports the daemon: ``OPTIONS`` is ``DaemonOptions`` as JSON plus
``foreground``. Exit 3: another daemon holds the state dir; an ``EvdError``
(a taken port, a bad config) exits with its code and its message alone.
"""

from __future__ import annotations

import json
import sys

# FastAPI imports pydantic.v1 only to ask whether a model is a v1 model, and takes
# "no" for an answer where pydantic has no v1 (its ImportError path). evd declares
# none: leaving v1 out keeps 1.5 MiB and ~20 ms of start-up off the daemon.
sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]

from evd.daemon.server.process import DaemonOptions, run_daemon  # noqa: E402
from evd.errors import DaemonAlreadyRunning, EvdError  # noqa: E402
from evd.paths import StateDir  # noqa: E402

EXIT_ALREADY_RUNNING = 3


def main(argv: list[str]) -> int:
    """Run the daemon with the options in ``argv[0]`` until it is told to stop."""
    options = json.loads(argv[0]) if argv else {}
    foreground = bool(options.pop("foreground", True))
    try:
        run_daemon(StateDir.from_env(), DaemonOptions(**options), foreground=foreground)
    except DaemonAlreadyRunning as exc:
        print(f"evd: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except EvdError as exc:  # a taken port, an unreadable config: said, not a traceback
        print(f"evd: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
