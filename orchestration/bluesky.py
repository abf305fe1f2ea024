"""Bluesky in Dagster: the collection job, its schedule and a sensor for newly connected accounts.

Check-backs of Bluesky posts run in the shared check-back job and sensor (``orchestration/ingest``),
which hand the ``bluesky`` batches to ``postpulse.bluesky.checkbacks`` (getPosts, 25 a call).
"""

import json

import dagster as dg

from assets.bluesky import collection
from resources.bluesky import BlueskyResource
from resources.run_tags import PLATFORM_TAG
from resources.store import STORE, PostgresStore

bluesky_collect = dg.define_asset_job(
    "bluesky_collect",
    selection=dg.AssetSelection.assets(collection.bluesky_posts),
    description="Collect Bluesky: our accounts' and watched profiles' posts, replies and counts.",
    tags={PLATFORM_TAG: "bluesky", "postpulse/source": "bluesky"},
)

bluesky_collect_schedule = dg.ScheduleDefinition(
    name="bluesky_collect_schedule",
    job=bluesky_collect,
    cron_schedule="*/30 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 30 minutes: collect Bluesky (idle without connected accounts or watched profiles).",
)


@dg.sensor(
    job=bluesky_collect,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A newly connected Bluesky account gets its first collection at once, not at the next "
    "half hour (run_key: the account ids; cursor: the accounts already seen).",
)
def bluesky_new_account_sensor(context: dg.SensorEvaluationContext, store: PostgresStore):
    from sqlalchemy import text

    seen = set(json.loads(context.cursor)) if context.cursor else set()
    with store.engine().connect() as conn:
        ids = set(
            conn.execute(
                text("SELECT id FROM accounts WHERE platform = 'bluesky' AND session_encrypted IS NOT NULL")
            ).scalars()
        )
    new = sorted(ids - seen)
    cursor = json.dumps(sorted(ids | seen))
    if not new:
        return dg.SensorResult(skip_reason="no newly connected Bluesky account", cursor=cursor)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key="bluesky-connect-" + "-".join(new), tags={PLATFORM_TAG: "bluesky"})
        ],
        cursor=cursor,
    )


defs = dg.Definitions(
    assets=[collection.bluesky_posts],
    asset_checks=[collection.bluesky_sessions_ok],
    jobs=[bluesky_collect],
    schedules=[bluesky_collect_schedule],
    sensors=[bluesky_new_account_sensor],
    resources={"store": STORE, "bluesky": BlueskyResource()},
)
