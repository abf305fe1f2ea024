"""The one Definitions object of postpulse, loaded by workspace.yaml.

Each area keeps its assets, checks, jobs, sensors, schedules and area-specific resources in its
own module ``orchestration/<area>.py`` (exposing ``defs``); this file only gathers them and
binds the shared store resource once.
"""

import importlib

import dagster as dg

from assets import store_overview
from resources.store import PostgresStore

# Area modules under ``orchestration``; each exposes ``defs: dg.Definitions``.
AREAS: list[str] = ["analytics", "ingest", "engagement"]


def _resources() -> dict:
    return {"store": PostgresStore(database_url=dg.EnvVar("DATABASE_URL"))}


def build_defs() -> dg.Definitions:
    core = dg.Definitions(assets=dg.load_assets_from_modules([store_overview]), resources=_resources())
    areas = [importlib.import_module(f"orchestration.{name}").defs for name in AREAS]
    return dg.Definitions.merge(core, *areas)


defs = build_defs()
