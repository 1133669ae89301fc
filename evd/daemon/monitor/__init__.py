"""What running jobs use: sampling, metrics, progress, limits and device health."""
