"""One asset per named query of sql/queries (group analytics_reports); the result is in the
materialization's metadata (row count and a markdown preview; growth curves also as a plot).
Parameters can be set per run in the launchpad: ``ops: {report_NAME: {config: {params: {k: v}}}}``."""

import dagster as dg

from assets.analytics.daily_metrics import daily_metrics
from assets.analytics.post_metrics import post_metrics
from assets.automation import on_cron_and_first
from postpulse.agency.plots import follower_growth_png
from postpulse.analytics import plots, queries
from postpulse.analytics.report_format import markdown_table
from resources.duckdb import DuckDBAnalytics

FROM_DAILY = {"engagement_rate_over_time", "anomalies"}


class ReportConfig(dg.Config):
    params: dict[str, str] = {}


def _build(q: queries.NamedQuery) -> dg.AssetsDefinition:
    upstream = daily_metrics if q.name in FROM_DAILY else post_metrics
    param_doc = ", ".join(f"{p.name} ({p.type}, default {p.default})" for p in q.params) or "none"

    @dg.asset(
        name=f"report_{q.name}",
        group_name="analytics_reports",
        kinds={"duckdb"},
        deps=[upstream],
        description=f"{q.title}. {q.description} Parameters: {param_doc}. SQL: sql/queries/{q.path.name}.",
        automation_condition=on_cron_and_first("30 * * * *"),
    )
    def _report(
        context: dg.AssetExecutionContext, config: ReportConfig, duckdb: DuckDBAnalytics
    ) -> dg.MaterializeResult:
        bound = q.bind(config.params)
        with duckdb.session() as a:
            df = q.run(a, config.params)
        metadata = {
            "row_count": dg.MetadataValue.int(len(df)),
            "params": dg.MetadataValue.json({k: None if v is None else str(v) for k, v in bound.items()}),
            "preview": dg.MetadataValue.md(markdown_table(df, max_rows=25)),
        }
        if q.name == "growth_curves":
            metadata["plot"] = dg.MetadataValue.md(
                plots.md_image(plots.growth_curves_png(df), "growth curves")
            )
        if q.name == "follower_growth":
            metadata["plot"] = dg.MetadataValue.md(plots.md_image(follower_growth_png(df), "follower growth"))
        if q.name == "engagement_rate_over_time":
            metadata["plot"] = dg.MetadataValue.md(
                plots.md_image(plots.daily_trends_png(df), "engagement rate")
            )
        context.log.info("%s: %s rows", q.name, len(df))
        return dg.MaterializeResult(metadata=metadata)

    return _report


report_assets = [_build(q) for q in queries.load_library().values()]
