"""The publishing sensor, the calendar and performance assets, and the media retention step in
Dagster, against a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy import text

from postpulse.publishing import items, schedule
from postpulse.publishing.items import ItemInput
from resources.store import PostgresStore

from .conftest import add_account


def _scheduled(engine, at):
    add_account(engine, "dg_x")
    with engine.begin() as conn:
        item = items.create_item(
            conn, ItemInput(text="From Dagster", title="Dagster post", accounts=["dg_x"])
        )
        items.submit(conn, item)
        items.approve(conn, item)
        schedule.schedule_item(conn, item, at)
    return item


def test_definitions_include_publishing():
    from orchestration.definitions import defs

    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"content_calendar", "content_performance"} <= keys
    assert repo.has_sensor_def("publishing_due_sensor") and repo.has_job("publishing_publish_due")


def test_sensor_launches_once_per_change(db_url, engine, home):
    from orchestration.publishing import publishing_due_sensor

    store = PostgresStore(database_url=db_url)
    ctx = dg.build_sensor_context(resources={"store": store})
    assert isinstance(publishing_due_sensor(ctx), dg.SkipReason)
    _scheduled(engine, datetime.now(UTC) + timedelta(hours=1))
    assert isinstance(publishing_due_sensor(ctx), dg.SkipReason)  # not due yet
    with engine.begin() as conn:
        conn.execute(text("UPDATE publications SET scheduled_for = now() - interval '1 second'"))
    res = publishing_due_sensor(ctx)
    assert len(res.run_requests) == 1 and res.run_requests[0].run_key.startswith("publish-")
    again = publishing_due_sensor(dg.build_sensor_context(resources={"store": store}, cursor=res.cursor))
    assert isinstance(again, dg.SkipReason) and "not changed" in str(again.skip_message)


def test_calendar_and_performance_assets(db_url, engine, home):
    from assets.publishing.calendar import content_calendar, content_performance, publications_not_stuck

    item = _scheduled(engine, datetime.now(UTC) + timedelta(days=2))
    result = dg.materialize(
        [content_calendar, content_performance, publications_not_stuck],
        resources={"store": PostgresStore(database_url=db_url)},
    )
    assert result.success
    cal = result.asset_materializations_for_node("content_calendar")[0].metadata
    assert cal["publications"].value == 1 and item in cal["calendar"].value
    ics = (home / "calendar" / "content.ics").read_text()
    assert "SUMMARY:x @dg_x: Dagster post" in ics
    perf = result.asset_materializations_for_node("content_performance")[0].metadata
    assert perf["publications"].value == 1 and perf["published"].value == 0
    checks = result.get_asset_check_evaluations()
    assert checks and checks[0].passed


def test_nightly_retention_removes_unused_media(db_url, engine, home, tmp_path):
    from orchestration.engagement import engagement_retention
    from postpulse.publishing.media import store_media

    from .conftest import make_image

    with engine.begin() as conn:
        row = store_media(conn, make_image(tmp_path / "orphan.png"))
        conn.execute(text("UPDATE media_assets SET created_at = now() - interval '2 days'"))
    result = engagement_retention.execute_in_process(resources={"store": PostgresStore(database_url=db_url)})
    assert result.success
    assert result.output_for_node("apply_retention")["media_removed"] == 1
    assert not (home / "media" / row["sha256"][:2] / row["sha256"]).exists()
