"""The job SDK: ``Env``, ``Job``, ``Resources``, ``Volume`` (standard library only)."""

from evd.sdk.checks import DeclarationError
from evd.sdk.env import Env, Resources, Volume
from evd.sdk.job import Job

__all__ = ["DeclarationError", "Env", "Job", "Resources", "Volume"]
