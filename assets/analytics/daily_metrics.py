"""daily_metrics: one partition per UTC day; a backfill of any range is ONE run.

Definitions (engagement, attribution by differencing and spreading, engagement rate, settled)
are in ``postpulse.analytics.daily``. Re-materializing a partition replaces its rows in one
transaction (each day's rows are loaded into a new day table that replaces the old one), so it
is idempotent.
"""

from datetime import date, timedelta

import dagster as dg

from assets.analytics.common import metrics_start_date
from assets.analytics.post_metrics import post_metrics
from postpulse.analytics import plots
from postpulse.analytics.daily import materialize_daily
from postpulse.analytics.report_format import markdown_table
from postpulse.analytics.sparkline import sparkline_md
from resources.duckdb import DuckDBAnalytics

# end_offset=1: today's (still growing) partition exists, so the hourly schedule can refresh it
daily_partitions = dg.DailyPartitionsDefinition(start_date=metrics_start_date(), timezone="UTC", end_offset=1)


@dg.asset(
    group_name="analytics",
    kinds={"duckdb", "postgres"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[post_metrics],
    description="Per UTC day per post, rolled up per profile, account, workspace, tag and platform "
    "(table daily_metrics): end-of-day totals, new engagement attributed to the day it happened "
    "(consecutive snapshots differenced, spread over multi-day gaps and flagged is_estimated), engagement "
    "rate, posts published/tracked/settled, actions completed/failed. Idempotent per partition.",
)
def daily_metrics(context: dg.AssetExecutionContext, duckdb: DuckDBAnalytics) -> dg.MaterializeResult:
    keys = context.partition_key_range
    start = date.fromisoformat(keys.start)
    end = date.fromisoformat(keys.end) + timedelta(days=1)
    with duckdb.session() as a:
        res = materialize_daily(a, duckdb.database_url, start, end, max_gap_days=duckdb.max_gap_days)
        trend_start = end - timedelta(days=30)  # the plot shows the 30 days up to this partition
        trend = a.sql(
            "SELECT metric_date, entity_id, engagement_new, engagement_rate, is_estimated FROM daily_metrics "
            "WHERE grain = 'platform' AND metric_date >= $s AND metric_date < $e ORDER BY metric_date",
            {"s": trend_start, "e": end},
        )
        preview = a.sql(
            "SELECT metric_date, entity_id AS platform, posts_tracked, posts_published, posts_settled, "
            "round(engagement_new, 1) AS engagement_new, round(engagement_rate, 4) AS engagement_rate, "
            "is_estimated "
            "FROM daily_metrics WHERE grain = 'platform' AND metric_date >= $s AND metric_date < $e "
            "ORDER BY metric_date DESC, platform LIMIT 40",
            {"s": start, "e": end},
        )
    context.log.info(
        "daily_metrics %s..%s: %s rows (%s)", start, end - timedelta(days=1), res.rows, res.rows_by_grain
    )
    per_day = trend.groupby("metric_date")["engagement_new"].sum(min_count=1) if len(trend) else []
    inline = sparkline_md([None if v != v else float(v) for v in per_day], "new engagement, 30 days")
    return dg.MaterializeResult(
        metadata={
            # shown in place in the UI (short Markdown); the full plot is under daily_trends
            **({"trend_30_days": dg.MetadataValue.md(inline)} if inline else {}),
            "days": dg.MetadataValue.int(res.days),
            "rows": dg.MetadataValue.int(res.rows),
            "rows_replaced": dg.MetadataValue.int(res.deleted),
            "rows_by_grain": dg.MetadataValue.json(res.rows_by_grain),
            "snapshots_read": dg.MetadataValue.int(res.snapshots_read),
            "snapshot_rows_scanned": dg.MetadataValue.int(res.snapshot_rows_scanned),
            "seconds": dg.MetadataValue.json({k: round(v, 3) for k, v in res.timings.items()}),
            "platforms": dg.MetadataValue.md(markdown_table(preview)),
            "daily_trends": dg.MetadataValue.md(
                plots.md_image(plots.daily_trends_png(trend), "daily trends")
            ),
        }
    )
