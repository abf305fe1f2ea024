"""Official platform APIs in Dagster: the collection job and its schedule."""

import dagster as dg

from assets.platforms import collection
from resources.vault import VaultResource

official_api_collect = dg.define_asset_job(
    "official_api_collect",
    selection=dg.AssetSelection.assets(collection.official_api_posts),
    description="Collect our posts with insights from YouTube, X, Instagram and LinkedIn through their APIs.",
    tags={"postpulse/source": "official_api"},
)

official_api_collect_schedule = dg.ScheduleDefinition(
    name="official_api_collect_schedule",
    job=official_api_collect,
    cron_schedule="15 */6 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 6 hours: collect the accounts connected through official APIs (idle without any).",
)

defs = dg.Definitions(
    assets=[collection.official_api_posts],
    asset_checks=[collection.official_api_accounts_connected],
    jobs=[official_api_collect],
    schedules=[official_api_collect_schedule],
    resources={"platforms_vault": VaultResource()},
)
