"""The job SDK: ``Env``, ``Job``, ``Cache``, ``Reuse``, ``Resources``, ``Volume`` (stdlib only)."""

from evd.sdk.checks import DeclarationError
from evd.sdk.env import Env, Resources, Volume
from evd.sdk.job import Cache, Job, Reuse

__all__ = ["Cache", "DeclarationError", "Env", "Job", "Resources", "Reuse", "Volume"]
