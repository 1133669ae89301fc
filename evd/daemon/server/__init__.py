"""The process and its front door: the ASGI app, its handlers, the HTTP gate, the config."""
