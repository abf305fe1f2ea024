"""The one Definitions object of postpulse, loaded by workspace.yaml.

Each area keeps its assets, checks, jobs, sensors, schedules and area-specific resources in its
own module ``orchestration/<area>.py`` (exposing ``defs``); this file only gathers them and
binds the shared store resource once.
"""

import importlib
import warnings

import dagster as dg

# postpulse uses beta parameters knowingly (single-run backfills of daily_metrics, sensors'
# owners); without this the same warnings repeat in every run's and every tick's log.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from assets import store_overview
from resources.store import PostgresStore

# Area modules under ``orchestration``; each exposes ``defs: dg.Definitions``.
AREAS: list[str] = [
    "analytics",
    "ingest",
    "engagement",
    "agency",
    "bluesky",
    "operations",
    "publishing",
    "platforms",
]


def _resources() -> dict:
    return {"store": PostgresStore(database_url=dg.EnvVar("DATABASE_URL"))}


# Dagster's own automation sensor starts stopped; assets with an automation condition (the store
# overview, post metrics, reports) would then never refresh on a fresh `postpulse up`.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "postpulse_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    run_tags={"postpulse/serial": "automation"},  # one automation run at a time (dagster.yaml)
    description="Evaluates the assets' automation conditions (hourly refreshes, first materialization).",
)


def build_defs() -> dg.Definitions:
    core = dg.Definitions(
        assets=dg.load_assets_from_modules([store_overview]),
        resources=_resources(),
        sensors=[automation_sensor],
    )
    areas = [importlib.import_module(f"orchestration.{name}").defs for name in AREAS]
    return dg.Definitions.merge(core, *areas)


defs = build_defs()
