"""The job SDK: ``Env``, ``Job``, ``Cache``, ``Resources``, ``Volume`` (standard library only)."""

from evd.sdk.checks import DeclarationError
from evd.sdk.env import Env, Resources, Volume
from evd.sdk.job import Cache, Job

__all__ = ["Cache", "DeclarationError", "Env", "Job", "Resources", "Volume"]
