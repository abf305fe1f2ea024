"""What is in the store right now: row counts per table and the schema revision."""

import dagster as dg
from sqlalchemy import text

from assets.automation import on_cron_and_first
from resources.store import PostgresStore

COUNTED_TABLES = (
    "workspaces",
    "accounts",
    "profiles",
    "posts",
    "data_downloads",
    "download_runs",
    "rejected_records",
    "comments",
    "post_media",
    "daily_metrics",
    "action_queue",
    "action_attempts",
    "dm_threads",
    "dm_messages",
    "blocklist_entries",
    "audit_entries",
)


@dg.asset(
    group_name="store",
    kinds={"postgres"},
    description="Row counts of postpulse's main tables and the schema revision, refreshed hourly. "
    "A quick look at what the store holds.",
    automation_condition=on_cron_and_first("0 * * * *"),
)
def store_overview(context: dg.AssetExecutionContext, store: PostgresStore) -> dg.MaterializeResult:
    with store.engine().connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in COUNTED_TABLES  # names from the constant above, not from input
        }
    table_md = "| table | rows |\n|---|---:|\n" + "\n".join(f"| {t} | {n:,} |" for t, n in counts.items())
    context.log.info("store %s at revision %s", store.display_url(), revision)
    return dg.MaterializeResult(
        metadata={
            "schema_revision": revision,
            "database": store.display_url(),
            "rows": dg.MetadataValue.md(table_md),
            **{f"rows/{t}": dg.MetadataValue.int(n) for t, n in counts.items()},
        }
    )
