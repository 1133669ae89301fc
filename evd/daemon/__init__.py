"""The daemon: its parts wired by the engine, served by server/. Run as ``python -m evd.daemon``."""
