"""The store area: the store overview asset (row counts, schema revision), Dagster's automation
sensor (it evaluates every area's automation conditions) and the store resource."""

import dagster as dg

from assets import store_overview
from resources.run_tags import SERIAL_TAG
from resources.store import STORE

# Dagster's own automation sensor starts stopped; assets with an automation condition (the store
# overview, post metrics, reports) would then never refresh on a fresh `postpulse up`.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "postpulse_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    run_tags={SERIAL_TAG: "automation"},  # one automation run at a time (dagster.yaml)
    description="Evaluates the assets' automation conditions (hourly refreshes, first materialization).",
)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([store_overview]),
    sensors=[automation_sensor],
    resources={"store": STORE},
)
