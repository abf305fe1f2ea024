"""Post metrics time series: per post, snapshots with deltas and velocity, and values at the
standard ages 1 h / 24 h / 7 d (interpolated between snapshots, flagged).

Design: computed on demand in DuckDB (named queries ``post_series`` and ``post_metrics`` under
sql/queries), not stored: snapshots are append-only and the series is a window function over
them, so a stored copy would only go stale after every check-back. The materialization runs
the query over the whole store, records coverage numbers and the growth-curve plot, and is the
anchor of the snapshot data-quality checks.
"""

import dagster as dg

from assets.automation import on_cron_and_first
from postpulse.analytics import plots, queries
from postpulse.analytics.report_format import markdown_table
from resources.duckdb import DuckDBAnalytics


@dg.asset(
    group_name="analytics",
    kinds={"duckdb", "postgres"},
    description="Per-post metrics time series (snapshots, deltas, velocity per hour) and values at "
    "1 h / 24 h / 7 d after posting, linearly interpolated between snapshots and flagged; NULL outside "
    "the observed range. Computed on demand with DuckDB over data_downloads "
    "(`postpulse report post_series` / `postpulse report post_metrics`).",
    deps=[dg.AssetKey("data_downloads")],
    automation_condition=on_cron_and_first("10 * * * *"),
)
def post_metrics(context: dg.AssetExecutionContext, duckdb: DuckDBAnalytics) -> dg.MaterializeResult:
    lib = queries.load_library()
    with duckdb.session() as a:
        ages = lib["post_metrics"].run(a)
        curves = lib["growth_curves"].run(a, {"limit_posts": 8})
        counts = a.sql(
            "SELECT (SELECT count(*) FROM posts) AS posts, count(*) AS snapshots, "
            "count(DISTINCT post_id) AS posts_with_snapshots, "
            "count(*) FILTER (WHERE captured_before_post) AS captured_before_post FROM data_downloads"
        )
    summary = (
        (
            ages.assign(known=ages["engagement"].notna())
            .groupby("age_label", sort=False)
            .agg(
                posts=("post_id", "count"),
                known=("known", "sum"),
                interpolated=("interpolated", "sum"),
                median_engagement=("engagement", "median"),
            )
            .reset_index()
        )
        if not ages.empty
        else ages
    )
    png = plots.growth_curves_png(curves)
    context.log.info("post metrics over %s posts", int(counts["posts"][0]))
    return dg.MaterializeResult(
        metadata={
            "posts": dg.MetadataValue.int(int(counts["posts"][0])),
            "snapshots": dg.MetadataValue.int(int(counts["snapshots"][0])),
            "posts_with_snapshots": dg.MetadataValue.int(int(counts["posts_with_snapshots"][0])),
            "snapshots_captured_before_post": dg.MetadataValue.int(int(counts["captured_before_post"][0])),
            "standard_ages": dg.MetadataValue.md(markdown_table(summary)),
            "growth_curves": dg.MetadataValue.md(plots.md_image(png, "growth curves")),
        }
    )
