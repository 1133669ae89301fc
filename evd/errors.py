"""The one error tree of evd.

::

    EvdError                      anything evd reports to a person
    ├── DaemonNotRunning          no daemon answers on the socket
    ├── DaemonAlreadyRunning      `evd up`/`evd daemon` while one holds the lock
    ├── DaemonUnavailable         the daemon answered but broke off (crash, shutdown)
    ├── InvalidRequest            the request is malformed (HTTP 400/422)
    ├── NotFound                  what a request names is not there (HTTP 404)
    │   └── RunNotFound           no run has that id
    ├── Conflict                  the run is in the wrong state for that (HTTP 409)
    ├── ShuttingDown              the daemon is stopping and takes no new work (HTTP 503)
    └── StorageError              the database could not be written, e.g. a full disk (HTTP 507)

Every message says what is wrong and, where there is one, what to do next. The
CLI prints ``str(error)`` without a traceback and exits with ``exit_code``.
Standard library only: job code and the CLI import this.
"""

from __future__ import annotations


class EvdError(Exception):
    """Base of every error evd reports to a person."""

    http_status = 500
    exit_code = 1


class DaemonNotRunning(EvdError):
    """No daemon answers on the socket."""


class DaemonAlreadyRunning(EvdError):
    """A daemon already holds the state dir's lock."""


class DaemonUnavailable(EvdError):
    """The daemon answered, then broke the connection off."""


class InvalidRequest(EvdError):
    """The request is malformed: bad JSON, wrong types, an empty command."""

    http_status = 422
    exit_code = 2


class NotFound(EvdError):
    """What a request names (a run, a file, a folder, a volume) is not there."""

    http_status = 404


class RunNotFound(NotFound):
    """No run has the given id."""


class Conflict(EvdError):
    """The run is in a state that does not allow the operation."""

    http_status = 409


class ShuttingDown(EvdError):
    """The daemon is stopping and accepts no new work."""

    http_status = 503


class StorageError(EvdError):
    """evd could not write its database (a full disk, an I/O error); nothing was recorded."""

    http_status = 507


_BY_STATUS: dict[int, type[EvdError]] = {
    400: InvalidRequest,
    404: RunNotFound,
    409: Conflict,
    413: InvalidRequest,
    422: InvalidRequest,
    503: ShuttingDown,
    507: StorageError,
}


def error_for_status(status: int, message: str) -> EvdError:
    """Build the error the client raises for an HTTP error ``status``."""
    return _BY_STATUS.get(status, EvdError)(message)
