"""CLI commands, report formats, plots, the HTML report and the Dagster wiring."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date

import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from postpulse.analytics import plots, queries
from postpulse.cli import app
from postpulse.store.urls import StoreUrls

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


def test_query_cli(store_env, scenario):
    r = _run("query", "SELECT platform, count(*) AS n FROM posts GROUP BY 1 ORDER BY 1")
    assert r.exit_code == 0 and "instagram" in r.output and "linkedin" in r.output


def test_query_cli_refuses_writes_with_one_line(store_env, scenario):
    r = _run("query", "DELETE FROM posts")
    assert r.exit_code == 1
    assert "read-only" in r.output and "Traceback" not in r.output
    r = _run("query", "SELEC nonsense")
    assert r.exit_code == 1 and "does not parse" in r.output and "Traceback" not in r.output


def test_report_unknown_lists_names(store_env):
    r = _run("report", "nope")
    assert r.exit_code == 1 and "growth_curves" in r.output and "Traceback" not in r.output


def test_report_list(store_env):
    r = _run("report", "list")
    assert r.exit_code == 0 and "top_posts" in r.output and "since" in r.output


def test_report_formats(store_env, scenario, tmp_path):
    r = _run("report", "top_posts", "-p", "since=2025-01-01", "-p", "until=2025-01-31", "--format", "csv")
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("platform,post_id")
    out = tmp_path / "top.json"
    r = _run("report", "top_posts", "-p", "since=2025-01-01", "--format", "json", "-o", str(out))
    assert r.exit_code == 0 and len(json.loads(out.read_text())) == 4
    pq = tmp_path / "top.parquet"
    r = _run("report", "top_posts", "-p", "since=2025-01-01", "--format", "parquet", "-o", str(pq))
    assert r.exit_code == 0 and len(pd.read_parquet(pq)) == 4
    r = _run("report", "top_posts", "-p", "since=2025-01-01")
    assert r.exit_code == 0 and "Top posts" in r.output
    r = _run("report", "top_posts", "-p", "since=soon")
    assert r.exit_code == 1 and "not a date" in r.output


def test_report_on_empty_store_is_empty_not_an_error(store_env):
    r = _run("report", "growth_curves")
    assert r.exit_code == 0 and "no rows" in r.output


def test_metrics_daily_cli(store_env, scenario):
    r = _run("metrics", "daily", "--start", "2025-01-09", "--end", "2025-01-17")
    assert r.exit_code == 0 and "post" in r.output
    stored = len(scenario["snaps"])
    out = " ".join(r.output.split())
    assert f" {stored} snapshots read" in out and "rows scanned" not in out, out
    # 70 days are computed in three parts that re-read each other's margins: the snapshots read
    # are still the stored ones, the rows scanned are named as such
    r = _run("metrics", "daily", "--start", "2024-12-20", "--end", "2025-02-27")
    out = " ".join(r.output.split())
    assert r.exit_code == 0 and f" {stored} snapshots read" in out, out
    assert f"{2 * stored} rows scanned" in out or f"{3 * stored} rows scanned" in out, out
    r = _run("metrics", "daily", "--start", "2030-01-01")
    assert r.exit_code == 0 and "no data in range" in r.output


def test_plots_are_png(duck, scenario):
    png = plots.growth_curves_png(queries.get("growth_curves").run(duck))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    empty = plots.daily_trends_png(pd.DataFrame())
    assert empty[:4] == b"\x89PNG"
    # days with posts tracked but nothing to difference yet: a message, not empty axes at 1970
    first_day = pd.DataFrame(
        {
            "metric_date": [pd.Timestamp("2026-12-04")] * 2,
            "entity_id": ["x", "tiktok"],
            "engagement_new": [None, None],
            "engagement_rate": [None, None],
            "is_estimated": [False, False],
        }
    )
    title = "Daily new engagement and engagement rate"
    assert plots.daily_trends_png(first_day) == plots.empty_plot(title, plots.NO_NEW_ENGAGEMENT)
    assert plots.daily_trends_png(first_day.assign(engagement_new=[3.0, None])) != plots.empty_plot(
        title, plots.NO_NEW_ENGAGEMENT
    )
    assert plots.md_image(png).startswith("![plot](data:image/png;base64,")


def test_html_report_is_self_contained(store_env, scenario, tmp_path):
    assert _run("metrics", "daily", "--start", "2025-01-09", "--end", "2025-01-17").exit_code == 0
    out = tmp_path / "report.html"
    r = _run("report", "html", "--workspace", "acme", "-o", str(out))
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 3  # follower growth, growth curves, daily trend
    assert not re.search(r"""(src=|<link[^>]*href=)["']https?://""", html)  # links to posts are fine
    r = _run("report", "html", "--workspace", "nobody", "-o", str(out))
    assert r.exit_code == 1 and "acme" in r.output


def test_definitions_graph():
    from orchestration.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"post_metrics", "daily_metrics", "report_growth_curves", "report_anomalies"} <= keys
    assert defs.get_schedule_def("daily_metrics_hourly") is not None
    job = defs.resolve_job_def("daily_metrics_job")
    assert job.partitions_def is not None


def test_materialize_partition_range_in_dagster(db_url, scenario, monkeypatch):
    import dagster as dg

    from assets.analytics import checks as check_assets
    from assets.analytics import daily_metrics, post_metrics
    from resources.duckdb import DuckDBAnalytics
    from resources.store import PostgresStore

    res = dg.materialize(
        [post_metrics.post_metrics, daily_metrics.daily_metrics, *check_assets.analytics_checks],
        resources={"duckdb": DuckDBAnalytics(store=PostgresStore(database_url=db_url))},
        selection=[daily_metrics.daily_metrics],
        tags={
            "dagster/asset_partition_range_start": "2025-01-09",
            "dagster/asset_partition_range_end": "2025-01-17",
        },
    )
    assert res.success
    md = res.asset_materializations_for_node("daily_metrics")[0].metadata
    assert md["days"].value == 9 and md["rows"].value > 0
    assert md["daily_trends"].value.startswith("![daily trends](data:image/png;base64,")
    res = dg.materialize(
        [post_metrics.post_metrics, *check_assets.analytics_checks],
        resources={"duckdb": DuckDBAnalytics(store=PostgresStore(database_url=db_url))},
    )
    assert res.success
    evals = res.get_asset_check_evaluations()
    assert len(evals) == len(check_assets.analytics_checks) == 7 and all(e.passed for e in evals)


@pytest.mark.slow
def test_dagster_cli_backfill_command(db_url, scenario, tmp_path):
    """The documented backfill command: dagster asset materialize --partition-range (one run)."""
    env = {**os.environ, "DATABASE_URL": db_url, "DAGSTER_HOME": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "orchestration.definitions",
        "--select",
        "daily_metrics",
        "--partition-range",
        "2025-01-09...2025-01-17",
    ]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-2000:]
    with psycopg.connect(StoreUrls.from_base(db_url).libpq) as conn:
        first, last, days = conn.execute(
            "SELECT min(metric_date), max(metric_date), count(DISTINCT metric_date) FROM daily_metrics"
        ).fetchone()
    # the data spans Jan 10..16; Jan 9 and 17 have none (and no rows)
    assert (first, last, days) == (date(2025, 1, 10), date(2025, 1, 16), 7)


def test_assets_on_an_empty_store_materialize_with_empty_results(db_url):
    import dagster as dg

    from assets.analytics import checks as check_assets
    from assets.analytics import daily_metrics, post_metrics, reports
    from resources.duckdb import DuckDBAnalytics
    from resources.store import PostgresStore

    growth = next(a for a in reports.report_assets if a.key.to_user_string() == "report_growth_curves")
    res = dg.materialize(
        [post_metrics.post_metrics, growth, *check_assets.analytics_checks],
        resources={"duckdb": DuckDBAnalytics(store=PostgresStore(database_url=db_url))},
    )
    assert res.success
    md = res.asset_materializations_for_node("post_metrics")[0].metadata
    assert md["snapshots"].value == 0 and md["growth_curves"].value.startswith(
        "![growth curves](data:image/png;base64,"
    )
    md = res.asset_materializations_for_node("report_growth_curves")[0].metadata
    assert md["row_count"].value == 0 and md["preview"].value == "_no rows_"
    assert all(e.passed for e in res.get_asset_check_evaluations())
    res = dg.materialize(
        [post_metrics.post_metrics, daily_metrics.daily_metrics],
        resources={"duckdb": DuckDBAnalytics(store=PostgresStore(database_url=db_url))},
        selection=[daily_metrics.daily_metrics],
        partition_key="2025-01-05",
    )
    assert res.success
    md = res.asset_materializations_for_node("daily_metrics")[0].metadata
    assert md["rows"].value == 0 and md["days"].value == 1


def test_daily_trends_axis_spans_the_days_of_the_data(monkeypatch):
    """One day of data: the date axis shows that day with a day on each side (matplotlib alone
    would span years), one tick a day."""
    import matplotlib.dates as mdates

    figures = []
    monkeypatch.setattr(plots, "_png", lambda fig: figures.append(fig) or b"")
    one_day = pd.DataFrame(
        {
            "metric_date": [pd.Timestamp("2026-12-04")] * 2,
            "entity_id": ["x", "tiktok"],
            "engagement_new": [5.0, 7.0],
            "engagement_rate": [0.05, 0.11],
            "is_estimated": [False, True],
        }
    )
    plots.daily_trends_png(one_day)
    axis = figures[0].axes[1]
    lo, hi = (mdates.num2date(v).date().isoformat() for v in axis.get_xlim())
    assert (lo, hi) == ("2026-12-03", "2026-12-05")
    assert [mdates.num2date(t).date().isoformat() for t in axis.get_xticks()] == [
        "2026-12-03",
        "2026-12-04",
        "2026-12-05",
    ]
