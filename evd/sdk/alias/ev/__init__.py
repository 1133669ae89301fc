"""``ev`` as evd's SDK, so files written for the ev platform run unchanged under evd.

evd puts the folder holding this package at the *end* of a job's ``sys.path``:
a job whose environment installs the real ``ev-sdk`` gets that one instead.
"""

from evd import DeclarationError, Env, Job, Resources, Volume

__all__ = ["DeclarationError", "Env", "Job", "Resources", "Volume"]
