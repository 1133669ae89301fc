"""evd: a job runner for one GPU workstation.

Jobs declare what they need with the SDK::

    from evd import Env, Job

    env = Env("3.11").pip_install(["daft==0.7.26"])
    job = Job("hello", env)

    @job.main()
    def main() -> int:
        return 0

This package is imported inside job environments, so everything reachable from
here at import time is standard library only. The daemon lives in
``evd.daemon`` and is imported only by the ``evd daemon`` command.
"""

from evd.sdk import DeclarationError, Env, Job, Resources, Volume
from evd.sdk.progress import progress

__version__ = "0.1.0"

__all__ = ["DeclarationError", "Env", "Job", "Resources", "Volume", "__version__", "progress"]
