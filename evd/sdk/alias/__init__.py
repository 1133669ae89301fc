"""Holds the ``ev`` package that maps ev-platform imports onto evd's SDK."""
