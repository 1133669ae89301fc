"""evd: a job runner for one GPU workstation.

This package is imported inside job environments, so everything reachable from
here at import time is standard library only. The daemon lives in
``evd.daemon`` and is imported only by the ``evd daemon`` command.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
