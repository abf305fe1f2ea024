"""Software-defined assets and asset checks, grouped by area (ingest, analytics, engagement)."""
