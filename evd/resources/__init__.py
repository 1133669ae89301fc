"""The machine's capacity: CPUs, memory and GPUs (NVML, or fake GPUs for CPU-only machines)."""
