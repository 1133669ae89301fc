"""The ``evd`` command line. Only the client and wire models on the hot path."""
