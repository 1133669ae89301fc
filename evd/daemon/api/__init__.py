"""HTTP handlers, one module per resource; ``evd.daemon.app`` assembles them."""
