"""The data a job reads and writes: inputs staged before it starts, outputs published after."""
