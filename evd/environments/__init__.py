"""Environments: where a job's settings come from, Pythons, index settings, uv builds."""
