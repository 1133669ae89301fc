"""Starting, watching and stopping job processes (no knowledge of the store)."""
