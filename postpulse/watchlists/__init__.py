"""Watchlists: profiles (ours, competitors', creators') collected on a schedule through a
source the user chooses (an Apify actor and its input; other kinds plug in as collectors),
within a per-source daily budget recorded in ``api_usage``. Plain Python (no Dagster); the
Dagster side (one dynamic partition per watched profile) is ``orchestration/agency.py``."""
