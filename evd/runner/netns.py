"""``network = "none"``: a job in a network namespace of its own, with loopback only.

The job's command is started through ``unshare``, which makes the namespace and
then ``exec``s, so the job keeps the shim's process group and evd's pid for it
(about 6 ms more than a plain start here). A new namespace's ``lo`` starts
down; ``ip link set lo up`` brings it up before the job runs, so servers the
job starts for itself (a Ray head, a local database) still work on 127.0.0.1.

As root, ``unshare --net`` is enough. An ordinary user may make a network
namespace only inside a user namespace of its own: ``--map-root-user`` gives
the rights to bring ``lo`` up, and a second, nested user namespace maps the
user back to their own uid and gid before the job starts, so the job sees who
it is and files it writes are theirs. A machine that allows neither (no
``unshare`` or ``ip``, unprivileged user namespaces turned off) is told at
submit, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess

MARKER = "evd-netns"
# As root: bring lo up, then run the job.
_AS_ROOT = (
    'ip link set lo up || { echo "evd: could not bring up loopback" >&2; exit 125; }\nexec "$@"\n'
)
# As a user: the same inside a user namespace, then back to the user's ids.
_AS_USER = (
    'ip link set lo up || { echo "evd: could not bring up loopback" >&2; exit 125; }\n'
    'u=$1 g=$2\nshift 2\nexec "$0" --user --map-user="$u" --map-group="$g" -- "$@"\n'
)


def isolated(command: list[str], *, unshare: str, uid: int | None = None) -> list[str]:
    """``command`` started in a new network namespace (``unshare``: the program's path)."""
    uid = os.geteuid() if uid is None else uid
    if uid == 0:
        return [unshare, "--net", "--", "/bin/sh", "-c", _AS_ROOT, MARKER, *command]
    gid = os.getegid()
    return [
        unshare, "--user", "--map-root-user", "--net", "--",
        "/bin/sh", "-c", _AS_USER, unshare, str(uid), str(gid), *command,
    ]  # fmt: skip


class Isolation:
    """Whether this machine can run jobs without a network; asked once, then remembered."""

    def __init__(self, path: str | None = None) -> None:
        """Look for ``unshare`` and ``ip`` on ``path`` (default: ``PATH``)."""
        self.path = path
        self._unavailable: str | None = None
        self._unshare: str | None = None
        self._probed = False

    @property
    def unshare(self) -> str:
        """The path of ``unshare`` (only once ``unavailable()`` said ``None``)."""
        assert self._unshare is not None
        return self._unshare

    def unavailable(self) -> str | None:
        """Why ``network = "none"`` cannot be honoured here, or ``None`` when it can."""
        if not self._probed:
            self._unavailable = self._probe()
            self._probed = True
        return self._unavailable

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` in a namespace of its own."""
        return isolated(command, unshare=self.unshare)

    def _probe(self) -> str | None:
        unshare = shutil.which("unshare", path=self.path)
        if unshare is None or shutil.which("ip", path=self.path) is None:
            return (
                "network = 'none' needs `unshare` (util-linux) and `ip` (iproute2) on this"
                " machine; install them or leave network out"
            )
        self._unshare = unshare
        try:
            probe = subprocess.run(
                isolated(["true"], unshare=unshare),
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"network = 'none' is not possible here: {error}"
        if probe.returncode != 0:
            said = probe.stderr.strip().splitlines()[-1:] or ["no reason given"]
            return (
                "network = 'none' is not possible here: this machine does not let evd make a"
                f" network namespace ({said[0]}); unprivileged user namespaces may be turned"
                " off (sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)"
            )
        return None
