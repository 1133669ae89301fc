"""Turning a request into something runnable: validation, preparation, fan-out, secrets, volumes."""
