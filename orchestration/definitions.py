"""The one Definitions object of postpulse, loaded by workspace.yaml.

Each area keeps its assets, checks, jobs, sensors and schedules in its own modules; this file
only gathers them and binds the resources once.
"""


import dagster as dg

from assets import store_overview
from resources.store import PostgresStore


def _resources() -> dict:
    return {"store": PostgresStore(database_url=dg.EnvVar("DATABASE_URL"))}


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([store_overview]),
    resources=_resources(),
)
