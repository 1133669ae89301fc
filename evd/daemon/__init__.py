"""The daemon: engine, API and server. Imported only by ``evd daemon``."""
