"""Campaign reports: figures computed by SQL aggregates."""
