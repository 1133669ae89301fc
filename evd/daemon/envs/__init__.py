"""Environments at run time: the venv catalogue of the daemon, and builds for waiting runs."""
