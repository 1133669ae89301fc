"""Other ways in: watched folders, schedules, and notifications when runs end."""
