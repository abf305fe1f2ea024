"""Settings changes re-evaluate deferred actions; `actions retry|reschedule|show|status`; the
account's time zone asked at `accounts add` (default: the machine's local zone)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.engagement import repository as repo
from postpulse.engagement.executor import Executor
from tests.engagement.conftest import OPEN_SETTINGS, action_row


def _quiet_now() -> dict:
    """Quiet hours that cover the current UTC hour."""
    h = datetime.now(UTC).hour
    return {"enabled": True, "start_hour": h, "end_hour": (h + 2) % 24, "timezone": "UTC"}


def _sensor_requests(db_url, cursor=None) -> dg.SensorResult | dg.SkipReason:
    from orchestration.engagement import engagement_due_actions_sensor
    from resources.store import PostgresStore

    ctx = dg.build_sensor_context(cursor=cursor, resources={"store": PostgresStore(database_url=db_url)})
    return engagement_due_actions_sensor(ctx)


def test_quiet_hours_off_makes_deferred_actions_due_at_the_next_tick(store_env, db_url, engine):
    from postpulse.cli import app

    with engine.begin() as conn:
        acc = repo.add_account(
            conn,
            platform="x",
            username="demo_x",
            authorize=True,
            settings={**OPEN_SETTINGS, "quiet_hours": _quiet_now()},
        )
        aid = repo.add_action(conn, account="demo_x", action_type="like", target_id="P1").action["id"]
        other = repo.add_action(conn, account="demo_x", action_type="follow", target_id="ana").action["id"]
        repo.decide(conn, [aid, other], "approve", actor="test")
    ex = Executor(engine)  # the claim alone: deferred actions never reach a browser
    rep = ex.claim()
    assert not rep.tasks and {d["reason_code"] for d in rep.decisions} == {"quiet_hours"}
    row = action_row(engine, aid)
    assert row["scheduled_for"] > datetime.now(UTC) + timedelta(minutes=30)

    r = CliRunner()
    shown = r.invoke(app, ["actions", "show", aid])
    assert shown.exit_code == 0 and "waits until" in shown.output and "quiet_hours" in shown.output
    assert f"{row['scheduled_for']:%H:%M} UTC" in shown.output
    # the sensor has nothing to launch while the actions wait
    assert isinstance(_sensor_requests(db_url), dg.SkipReason)

    out = r.invoke(app, ["accounts", "settings", "demo_x", "--no-quiet-hours"])
    assert out.exit_code == 0, out.output
    assert "2 deferred action(s) due again" in out.output
    assert "due now" in r.invoke(app, ["actions", "show", aid]).output
    # the next sensor tick launches the executor, and the claim now allows both
    res = _sensor_requests(db_url)
    assert isinstance(res, dg.SensorResult) and len(res.run_requests) == 1
    claimed = ex.claim()
    assert sorted(t.action_id for t in claimed.tasks) == sorted([aid, other]) and not claimed.decisions
    with engine.connect() as conn:
        notes = conn.execute(text("SELECT system_notes FROM action_queue WHERE id = :i"), {"i": aid}).scalar()
    assert "due again: settings changed" in notes
    assert acc["timezone"] == "UTC"


def test_other_deferrals_and_manual_times_are_left_alone(engine):
    with engine.begin() as conn:
        acc = repo.add_account(conn, platform="x", username="demo_x", authorize=True, settings=OPEN_SETTINGS)
        later = datetime.now(UTC) + timedelta(days=2)
        manual = repo.add_action(
            conn, account="demo_x", action_type="like", target_id="P1", scheduled_for=later
        ).action["id"]
        repo.decide(conn, [manual], "approve", actor="test")
        assert repo.update_settings(conn, acc["id"], {"quiet_hours": None}) is not None
    assert action_row(engine, manual)["scheduled_for"] == later


def test_retry_reschedule_and_status(store_env, engine):
    from postpulse.cli import app

    with engine.begin() as conn:
        repo.add_account(conn, platform="x", username="demo_x", authorize=True, settings=OPEN_SETTINGS)
        failed = repo.add_action(conn, account="demo_x", action_type="like", target_id="P1").action["id"]
        queued = repo.add_action(conn, account="demo_x", action_type="like", target_id="P2").action["id"]
        cancelled = repo.add_action(conn, account="demo_x", action_type="like", target_id="P3").action["id"]
        repo.decide(conn, [failed], "approve", actor="test")
        repo.decide(conn, [cancelled], "cancel", actor="test")
        conn.execute(
            text(
                "UPDATE action_queue SET status = 'failed', attempts = 3, last_reason_code = 'timeout' "
                "WHERE id = :i"
            ),
            {"i": failed},
        )
    r = CliRunner()
    out = r.invoke(app, ["actions", "retry", failed])
    assert out.exit_code == 0 and "due now" in out.output
    row = action_row(engine, failed)
    assert row["status"] == "approved" and row["attempts"] == 0
    bad = r.invoke(app, ["actions", "retry", cancelled])
    assert bad.exit_code == 1 and "queue it again" in bad.output
    out = r.invoke(app, ["actions", "reschedule", queued, "--at", "2031-01-02T03:04:00+00:00"])
    assert out.exit_code == 0, out.output
    assert action_row(engine, queued)["scheduled_for"] == datetime(2031, 1, 2, 3, 4, tzinfo=UTC)
    assert "waits for approval" in r.invoke(app, ["actions", "show", queued]).output

    table = r.invoke(app, ["actions", "status"], terminal_width=80)
    assert table.exit_code == 0 and "{" not in table.output
    assert all(len(line) <= 80 for line in table.output.splitlines())
    doc = json.loads(r.invoke(app, ["actions", "status", "--format", "json"]).output)
    assert doc["queue"] == {"approved": 1, "queued": 1, "cancelled": 1} and doc["global_pause"] is False
    full = json.loads(r.invoke(app, ["actions", "show", failed, "--format", "json"]).output)
    assert full["action"]["id"] == failed and full["waiting"].startswith("due now")


def test_account_time_zone_defaults_to_the_local_zone(store_env, engine, monkeypatch):
    import tzlocal

    from postpulse.cli import app

    r = CliRunner()
    monkeypatch.setenv("TZ", "Europe/Berlin")
    tzlocal.reload_localzone()  # tzlocal caches the zone it found first
    try:
        out = r.invoke(app, ["accounts", "add", "--platform", "x", "--username", "demo_x"])
    finally:
        monkeypatch.delenv("TZ")
        tzlocal.reload_localzone()
    assert out.exit_code == 0 and "time zone Europe/Berlin" in out.output, out.output
    bad = r.invoke(app, ["accounts", "add", "--platform", "x", "--username", "b", "--timezone", "Mars/Base"])
    assert bad.exit_code == 1 and "unknown time zone 'Mars/Base'" in " ".join(bad.output.split())
    out = r.invoke(app, ["accounts", "settings", "demo_x", "--timezone", "America/New_York"])
    assert out.exit_code == 0 and json.loads(out.output)["timezone"] == "America/New_York"
    with engine.connect() as conn:
        zones = conn.execute(text("SELECT username, timezone FROM accounts ORDER BY username")).all()
    assert [tuple(z) for z in zones] == [("demo_x", "America/New_York")]
