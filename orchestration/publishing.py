"""Publishing in Dagster: a sensor starts the publishing job when publications are due, and the
content calendar and planned-against-actual assets. Ops are thin shells over
``postpulse.publishing``.

``publishing_due_sensor`` is RUNNING: an approved item scheduled by a person is the instruction
to publish it. Publishing goes through the engagement executor (resources ``engagement_vault``
and ``engagement_browser``), so quiet hours, per-account limits and the global pause apply.
"""

import hashlib
import json
from datetime import UTC, datetime

import dagster as dg
from sqlalchemy import text

from assets.publishing import calendar as calendar_assets
from resources.browser import BrowserResource
from resources.store import PostgresStore
from resources.vault import VaultResource


@dg.op(
    description="Record the intent of each due publication, queue its approved publish action and run "
    "the executor on publish actions; published posts become tracked posts."
)
def publish_due(
    context: dg.OpExecutionContext,
    store: PostgresStore,
    engagement_vault: VaultResource,
    engagement_browser: BrowserResource,
) -> dict:
    from postpulse.publishing.runner import executor_factory, run_publishing

    engine = store.engine()
    base = engagement_browser.base_url()
    with engagement_browser.launch() as browser:
        make = executor_factory(
            engine, engagement_vault.vault(), browser, base_url=base, timeout_ms=engagement_browser.timeout_ms
        )
        run = run_publishing(engine, make_executor=make, base_url=base, run_id=context.run_id)
    if not run.locked:
        context.log.info("another publishing run holds the lock; nothing done")
    context.add_output_metadata(
        {
            "started": len(run.started),
            "published": len(run.published),
            "failed": len(run.failed),
            "waiting": len(run.waiting),
            "released_after_crash": run.released,
            "problems": dg.MetadataValue.json(run.refused + run.failed + run.waiting),
        }
    )
    if run.failed or run.refused:
        raise dg.Failure(
            description=(run.refused + run.failed)[0],
            metadata={"failed": len(run.failed) + len(run.refused)},
        )
    return {"published": len(run.published)}


@dg.job(description="Publish the due publications (started by publishing_due_sensor).")
def publishing_publish_due():
    publish_due()


# due publications, publications whose action is due again (after a deferral) or finished, and
# published ones not yet tracked
_PENDING = text("""
SELECT p.id, p.status, greatest(p.updated_at, q.updated_at) AS changed
FROM publications p LEFT JOIN action_queue q ON q.id = p.action_id
WHERE (p.status = 'scheduled' AND p.scheduled_for <= :now)
   OR (p.status = 'publishing' AND (q.id IS NULL
       OR q.status IN ('completed', 'failed', 'rejected', 'cancelled')
       OR (q.status = 'approved' AND coalesce(q.scheduled_for, :now) <= :now)))
   OR (p.status = 'published' AND p.post_id IS NULL AND p.content_item_id IS NOT NULL)
ORDER BY p.id LIMIT 1000
""")


@dg.sensor(
    job=publishing_publish_due,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the publishing job when scheduled publications are due (or one is being published "
    "and needs finishing).",
)
def publishing_due_sensor(context: dg.SensorEvaluationContext, store: PostgresStore):
    with store.engine().connect() as conn:
        rows = conn.execute(_PENDING, {"now": datetime.now(UTC)}).all()
    if not rows:
        return dg.SkipReason("no publication is due")
    fingerprint = hashlib.sha256(
        json.dumps([[r.id, r.status, r.changed.isoformat()] for r in rows]).encode()
    ).hexdigest()[:16]
    if context.cursor == fingerprint:
        return dg.SkipReason("the due publications have not changed since the last launch")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"publish-{fingerprint}", tags={"postpulse/due": str(len(rows))})
        ],
        cursor=fingerprint,
    )


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([calendar_assets]),
    asset_checks=dg.load_asset_checks_from_modules([calendar_assets]),
    jobs=[publishing_publish_due],
    sensors=[publishing_due_sensor],
)
