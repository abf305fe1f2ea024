"""Ingestion assets: the tables that imports, pulls and check-backs write."""
