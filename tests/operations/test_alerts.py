"""Alerts end to end: a failed Dagster run sends one e-mail (a real SMTP server on 127.0.0.1, with
STARTTLS and login) and one webhook (a real HTTP receiver), once; the store's conditions (frozen
account, expired session, overdue check-backs, failing checks, digest) alert once each; a
failing channel is retried without resending to the others; bad configuration says what to fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy import text

from postpulse import alerts
from postpulse.alerts.channels import channels_for
from postpulse.alerts.config import AlertConfigError, parse
from postpulse.engagement import repository as repo
from resources.store import PostgresStore
from tests.operations.conftest import SMTP_PASSWORD, write_alerts_config


@pytest.fixture
def configured(store_env, tmp_path, monkeypatch, smtp_server, http_receiver):
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    path = write_alerts_config(tmp_path / "alerts.toml", smtp_server, [(http_receiver.url, "json")])
    monkeypatch.setenv("POSTPULSE_ALERTS_CONFIG", str(path))
    return smtp_server, http_receiver


@dg.op
def explode():
    raise RuntimeError("the scraper returned nothing")


@dg.job
def failing_job():
    explode()


def test_failed_run_sends_one_email_and_one_webhook(configured, db_url, engine):
    from orchestration.operations import alert_on_run_failure

    smtp, hook = configured
    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    ctx = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=result.get_run_failure_event(),
        resources={"store": PostgresStore(database_url=db_url)},
    ).for_run_failure()
    alert_on_run_failure(ctx)
    alert_on_run_failure(ctx)  # the same failure seen again: nothing new is sent

    assert len(smtp.messages) == 1 and smtp.logins == [True]
    msg = smtp.messages[0]
    assert msg["Subject"] == "[postpulse] run of failing_job failed"
    body = msg.get_payload()
    assert f"http://127.0.0.1:3000/runs/{run.run_id}" in body and "explode" in body
    assert len(hook.posts) == 1
    doc = hook.posts[0]["json"]
    assert (
        doc["kind"] == "run_failed"
        and doc["link"].endswith(run.run_id)
        and doc["key"] == f"run_failed:{run.run_id}"
    )
    with engine.connect() as conn:
        (row,) = conn.execute(text("SELECT kind, sent_at, deliveries, attempts FROM alerts")).mappings().all()
    assert row["kind"] == "run_failed" and row["sent_at"] is not None and row["attempts"] == 1
    assert row["deliveries"]["email"]["ok"] and row["deliveries"]["webhook:0"]["ok"]
    assert SMTP_PASSWORD not in str(row["deliveries"])


def test_store_conditions_alert_once_each(store_env, db_url, engine, tmp_path, monkeypatch, http_receiver):
    from orchestration.operations import alerts_sensor

    path = write_alerts_config(tmp_path / "alerts.toml", None, [(http_receiver.url, "slack")])
    monkeypatch.setenv("POSTPULSE_ALERTS_CONFIG", str(path))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO workspaces (id, name) VALUES ('wsp-0000a001', 'Acme')"))
        frozen = repo.add_account(conn, platform="x", username="frozen_x", authorize=True)
        expired = repo.add_account(conn, platform="x", username="expired_x", authorize=True)
        conn.execute(
            text("UPDATE accounts SET workspace_id = 'wsp-0000a001', followers_count = 120 WHERE id = :a"),
            {"a": frozen["id"]},
        )
        repo.set_account_flags(
            conn, frozen["id"], frozen_until=now + timedelta(hours=20), frozen_reason="action-blocked notice"
        )
        repo.set_account_flags(conn, expired["id"], needs_relogin=True)
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, next_check_at, account_id, like_count) "
                "VALUES ('p-0000c001', 'instagram', 'A', :late, :acc, 40), "
                "('p-0000c002', 'instagram', 'B', :late, NULL, 1), "
                "('p-0000c003', 'instagram', 'C', :soon, NULL, 1)"
            ),
            {"late": now - timedelta(hours=9), "soon": now - timedelta(hours=1), "acc": frozen["id"]},
        )
    ctx = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources={"store": PostgresStore(database_url=db_url)}
    )
    first = alerts_sensor(ctx)
    assert "4 new alert(s); 4 sent" in first.skip_message
    second = alerts_sensor(ctx)
    assert "0 new alert(s)" in second.skip_message
    texts = [p["json"]["text"] for p in http_receiver.posts]
    assert len(texts) == 4
    assert any("@frozen_x (x) is frozen until" in t and "action-blocked notice" in t for t in texts)
    assert any(
        "@expired_x (x) needs a new login" in t and "postpulse accounts login expired_x" in t for t in texts
    )
    assert any("2 instagram check-back(s) overdue by more than 6 h" in t for t in texts)
    digest = next(t for t in texts if "daily digest for Acme" in t)
    assert "40 interactions" in digest and "@frozen_x: 120 followers (first count)" in digest
    with engine.connect() as conn:
        kinds = sorted(conn.execute(text("SELECT kind FROM alerts")).scalars())
    assert kinds == ["account_frozen", "checkbacks_overdue", "digest", "session_expired"]


def test_failing_asset_check_alerts_once(store_env, db_url, engine, tmp_path, monkeypatch, http_receiver):
    from orchestration.operations import failing_checks

    @dg.asset
    def scraped_posts():
        return 1

    @dg.asset_check(asset=scraped_posts)
    def scraper_healthy():
        return dg.AssetCheckResult(passed=False, description="0 rows in the last run")

    defs = dg.Definitions(assets=[scraped_posts], asset_checks=[scraper_healthy])
    instance = dg.DagsterInstance.ephemeral()
    res = dg.materialize([scraped_posts, scraper_healthy], instance=instance)
    assert res.success
    cfg = parse({}, source="test")
    ctx = dg.build_sensor_context(instance=instance, definitions=defs)
    found = failing_checks(ctx, cfg)
    assert [a.kind for a in found] == ["check_failed"]
    assert found[0].body == "0 rows in the last run" and found[0].link.endswith(res.run_id)
    with engine.begin() as conn:
        assert len(alerts.record(conn, found)) == 1
        assert alerts.record(conn, failing_checks(ctx, cfg)) == []


def test_a_failing_channel_is_retried_without_resending(configured, engine):
    smtp, hook = configured
    hook.status = 500
    cfg = alerts.load_config()
    channels = channels_for(cfg)
    a = alerts.run_failed_alert("r-1", "some_job", "boom", cfg)
    with engine.begin() as conn:
        alerts.record(conn, [a])
    assert alerts.deliver_pending(engine, channels) == {"sent": 0, "failed": 1}
    with engine.connect() as conn:
        d = conn.execute(text("SELECT deliveries FROM alerts")).scalar()
    assert d["email"]["ok"] and not d["webhook:0"]["ok"] and "HTTP 500" in d["webhook:0"]["error"]
    assert "T0K3N" not in d["webhook:0"]["error"]  # the webhook's token never lands in the table
    hook.status = 200
    assert alerts.deliver_pending(engine, channels) == {"sent": 1, "failed": 0}
    assert alerts.deliver_pending(engine, channels) == {"sent": 0, "failed": 0}
    assert len(smtp.messages) == 1 and len(hook.posts) == 2


def test_wrong_smtp_password_is_reported_not_leaked(store_env, engine, tmp_path, monkeypatch, smtp_server):
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
    path = write_alerts_config(tmp_path / "alerts.toml", smtp_server, [])
    cfg = alerts.load_config(path)
    with engine.begin() as conn:
        alerts.record(conn, [alerts.run_failed_alert("r-2", "j", "", cfg)])
    assert alerts.deliver_pending(engine, channels_for(cfg)) == {"sent": 0, "failed": 1}
    with engine.connect() as conn:
        d = conn.execute(text("SELECT deliveries::text FROM alerts")).scalar()
    assert "login refused" in d and "wrong-password" not in d and not smtp_server.messages


@pytest.mark.parametrize(
    "raw, words",
    [
        (
            {"email": {"host": "h", "sender": "s", "to": ["t"], "password": "x"}},
            "must not be written in the file",
        ),
        ({"email": {"host": "h", "sender": "s", "to": ["t"], "password_env": "NOPE_UNSET"}}, "NOPE_UNSET"),
        ({"webhook": [{"url": "ftp://x"}]}, "webhook[0].url"),
        ({"webhook": [{"url": "http://x", "format": "teams"}]}, "'json' or 'slack'"),
        ({"digest_hour": 25}, "digest_hour"),
        ({"chanels": {}}, "'chanels' is not known"),
    ],
)
def test_bad_configuration_names_the_key(raw, words, monkeypatch):
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    with pytest.raises(AlertConfigError) as err:
        parse(raw, source="alerts.toml")
    assert words in str(err.value) and str(err.value).startswith("alerts.toml: ")


def test_no_file_means_no_channels(tmp_path):
    cfg = alerts.load_config(tmp_path / "absent.toml")
    assert not cfg.has_channels and channels_for(cfg) == []


def test_cli_encrypted_password_test_and_list(
    store_env, engine, tmp_path, monkeypatch, smtp_server, http_receiver
):
    import base64
    import os

    from typer.testing import CliRunner

    from postpulse.cli import app

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    r = CliRunner()
    enc = r.invoke(app, ["alerts", "encrypt-secret"], input=SMTP_PASSWORD + "\n")
    assert enc.exit_code == 0, enc.output
    envelope = "".join(enc.output.split())
    assert SMTP_PASSWORD not in envelope and envelope.startswith("pp1:")
    path = write_alerts_config(tmp_path / "alerts.toml", smtp_server, [(http_receiver.url, "slack")])
    path.write_text(
        path.read_text().replace('password_env = "TEST_SMTP_PASSWORD"', f'password_encrypted = "{envelope}"')
    )
    monkeypatch.setenv("POSTPULSE_ALERTS_CONFIG", str(path))
    out = r.invoke(app, ["alerts", "test"])
    assert out.exit_code == 0, out.output
    assert "email: sent" in out.output and "webhook:0: sent" in out.output
    assert smtp_server.logins == [True] and len(http_receiver.posts) == 1
    with engine.begin() as conn:
        alerts.record(conn, [alerts.run_failed_alert("r-9", "nightly", "boom", alerts.load_config())])
    listed = r.invoke(app, ["alerts", "list"])
    assert listed.exit_code == 0 and "run of nightly failed" in listed.output and "pending" in listed.output
    assert json.loads(r.invoke(app, ["alerts", "list", "--format", "json"]).output)[0]["kind"] == "run_failed"


def test_watch_source_over_budget_alerts_once_a_day(engine):
    from postpulse.alerts.sources import WatchesOverBudget
    from postpulse.watchlists.store import add_source, add_watch

    cfg = parse({}, source="test")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        src = add_source(conn, "tiktok-daily", kind="apify", results_per_day=50, actor_id="clockworks~tiktok")
        add_watch(conn, "tiktok:rival_brand", source="tiktok-daily")
        assert WatchesOverBudget().collect(conn, now, cfg) == []  # nothing used yet
        conn.execute(
            text(
                "INSERT INTO api_usage (id, provider, endpoint, items, called_at, watch_source_id) "
                "VALUES ('apu-0000e001', 'apify', 'run', 50, :t, :s)"
            ),
            {"t": now, "s": src["id"]},
        )
        found = WatchesOverBudget().collect(conn, now, cfg)
        assert [a.kind for a in found] == ["watch_over_budget"]
        assert "tiktok-daily" in found[0].title and "50 of 50 results" in found[0].body
        assert len(alerts.record(conn, found)) == 1
        assert alerts.record(conn, WatchesOverBudget().collect(conn, now, cfg)) == []
        tomorrow = WatchesOverBudget().collect(conn, now + timedelta(days=1), cfg)
        assert tomorrow == []  # a new day, a new budget
