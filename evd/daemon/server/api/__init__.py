"""HTTP handlers, one module per resource; ``evd.daemon.server.app`` assembles them."""
