"""First-run rough edges: the posts asset's row count is the table's, the run's rows are under
``run_rows``; ``up.pid`` goes away with ``up``; daily_metrics starts at the first data and today's
partition is materialized as soon as there is data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy import text

from assets.ingest.file_import import file_import
from resources.store import PostgresStore
from tests.ingest.helpers import T0, apify_name, scraper_items, write_json


def _materialize(db_url, path):
    result = dg.materialize(
        [file_import],
        resources={"store": PostgresStore(database_url=db_url)},
        run_config={"ops": {"file_import": {"config": {"path": str(path)}}}},
    )
    assert result.success
    mats = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    return {m.asset_key.to_user_string(): m.metadata for m in mats}


def test_row_count_is_the_tables_and_run_rows_the_runs(db_url, engine, tmp_path):
    first = _materialize(db_url, write_json(tmp_path / apify_name("tweet-scraper", T0), scraper_items("x")))
    n = first["posts"]["run_rows"].value
    assert n > 0 and first["posts"]["dagster/row_count"].value == n
    later = T0 + timedelta(hours=3)
    second = _materialize(
        db_url, write_json(tmp_path / apify_name("instagram-scraper", later), scraper_items("instagram"))
    )
    with engine.connect() as conn:
        posts = conn.execute(text("SELECT count(*) FROM posts")).scalar()
        snaps = conn.execute(text("SELECT count(*) FROM data_downloads")).scalar()
    assert second["posts"]["dagster/row_count"].value == posts > second["posts"]["run_rows"].value
    assert second["data_downloads"]["dagster/row_count"].value == snaps
    assert second["download_runs"]["dagster/row_count"].value == 2


def test_up_pid_is_removed_when_up_stops(tmp_path):
    from postpulse.launcher import Launcher

    lock = Launcher()._lock(tmp_path)
    assert (tmp_path / "up.pid").read_text().strip().isdigit()
    Launcher._release(lock, tmp_path)
    assert not (tmp_path / "up.pid").exists() and not lock.is_locked


def test_metrics_start_at_the_first_snapshot(db_url, engine, tmp_path):
    from postpulse.freshness import metrics_start_date

    today = datetime.now(UTC).date()
    assert metrics_start_date(engine) == today.isoformat()  # an empty store: today, not 2025-01-01
    _materialize(db_url, write_json(tmp_path / apify_name("tweet-scraper", T0), scraper_items("x")))
    assert metrics_start_date(engine) == T0.date().isoformat()


def test_todays_partition_as_soon_as_there_is_data(db_url, engine, tmp_path):
    from orchestration.operations import SERIAL_TAG, daily_metrics_today_sensor

    def tick(cursor=None):
        ctx = dg.build_sensor_context(cursor=cursor, resources={"store": PostgresStore(database_url=db_url)})
        return daily_metrics_today_sensor(ctx)

    assert "no snapshots today" in tick().skip_message
    now = datetime.now(UTC).replace(microsecond=0)
    _materialize(db_url, write_json(tmp_path / apify_name("tweet-scraper", now), scraper_items("x")))
    res = tick()
    (req,) = res.run_requests
    assert req.partition_key == now.date().isoformat() and req.tags[SERIAL_TAG] == "daily_metrics"
    assert "no new snapshots" in tick(res.cursor).skip_message
    later = now + timedelta(minutes=1)
    _materialize(
        db_url, write_json(tmp_path / apify_name("instagram-scraper", later), scraper_items("instagram"))
    )
    assert "less than 10 minutes ago" in tick(res.cursor).skip_message


def test_tracking_fits_80_columns_and_speaks_json(store_env, engine):
    import json

    from typer.testing import CliRunner

    from postpulse.cli import app

    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, author_username, posted_at, "
                "next_check_at, check_schedule, check_failures, last_check_error) VALUES "
                "('p-0000d001', 'instagram', 'A', 'a_very_long_author_name_indeed', :p, :soon, "
                "CAST(:s3 AS jsonb), 0, NULL), "
                "('p-0000d002', 'linkedin', 'B', 'bo', :p, :late, CAST(:s1 AS jsonb), 2, "
                "'HTTP 429 from the platform')"
            ),
            {
                "p": now - timedelta(hours=5),
                "soon": now + timedelta(hours=2),
                "late": now - timedelta(hours=1),
                "s3": json.dumps(["1h", "24h", "7d"]),
                "s1": json.dumps(["1h"]),
            },
        )
    r = CliRunner()
    out = r.invoke(app, ["tracking"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    body = "\n".join(lines)
    assert "p-0000d001" in body and "p-0000d002" in body and "in 1h" in body and "overdue 1h" in body
    assert "p-0000d002: HTTP 429 from the platform" in body
    doc = json.loads(r.invoke(app, ["tracking", "--format", "json"]).output)
    assert doc["total"] == 2 and {p["post_id"] for p in doc["posts"]} == {"p-0000d001", "p-0000d002"}
    assert (
        next(p for p in doc["posts"] if p["post_id"] == "p-0000d001")["author"]
        == "a_very_long_author_name_indeed"
    )


def test_automation_and_todays_metrics_runs_are_serial():
    import yaml

    from orchestration.definitions import automation_sensor
    from orchestration.operations import SERIAL_TAG
    from postpulse.launcher import DAGSTER_YAML

    limits = yaml.safe_load(DAGSTER_YAML)["run_coordinator"]["config"]["tag_concurrency_limits"]
    serial = next(x for x in limits if x["key"] == SERIAL_TAG)
    assert serial["limit"] == 1 and serial["value"] == {"applyLimitPerUniqueValue": True}
    assert automation_sensor.run_tags[SERIAL_TAG] == "automation"
