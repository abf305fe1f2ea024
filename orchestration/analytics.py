"""Analytics area: post metrics, daily metrics (daily partitions, single-run backfills), the
DuckDB reports and the data-quality checks, plus an hourly schedule that refreshes today's and
yesterday's daily_metrics partitions."""

from datetime import timedelta

import dagster as dg

from assets.analytics import checks, daily_metrics, post_metrics, reports
from resources.duckdb import DuckDBAnalytics
from resources.store import STORE

daily_metrics_job = dg.define_asset_job(
    "daily_metrics_job",
    selection=[daily_metrics.daily_metrics],
    partitions_def=daily_metrics.daily_partitions,
    description="Materialize daily_metrics for one partition (UTC day) or a range (one run).",
)


@dg.schedule(
    job=daily_metrics_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: recompute today's and yesterday's daily_metrics partitions (UTC).",
)
def daily_metrics_hourly(context: dg.ScheduleEvaluationContext):
    now = context.scheduled_execution_time
    stamp = now.strftime("%Y%m%dT%H%M")
    for day in (now.date(), now.date() - timedelta(days=1)):
        key = day.isoformat()
        if key < daily_metrics.daily_partitions.start.strftime("%Y-%m-%d"):
            continue
        yield dg.RunRequest(run_key=f"daily_metrics-{key}-{stamp}", partition_key=key)


defs = dg.Definitions(
    assets=[post_metrics.post_metrics, daily_metrics.daily_metrics, *reports.report_assets],
    asset_checks=checks.analytics_checks,
    jobs=[daily_metrics_job],
    schedules=[daily_metrics_hourly],
    resources={"store": STORE, "duckdb": DuckDBAnalytics(store=STORE)},
)
