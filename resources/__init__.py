"""Dagster ConfigurableResources: thin handles on postpulse's domain services."""
