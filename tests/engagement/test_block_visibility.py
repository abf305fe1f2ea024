"""A block signal freezes the account AND the user is told: the Dagster run that saw it fails with
a message naming the account, until when and the fix (after recording everything); the asset
check ``engagement_accounts_ok`` warns; ``postpulse accounts list`` / ``actions status`` say it."""

from __future__ import annotations

import base64
import os
import threading
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.engagement import repository as repo
from tests.engagement.conftest import OPEN_SETTINGS, action_row, make_account, posts_of, queue


def _resources(db_url, sandbox=None):
    from resources.browser import BrowserResource
    from resources.store import PostgresStore
    from resources.vault import VaultResource

    return {
        "store": PostgresStore(database_url=db_url),
        "engagement_vault": VaultResource(),
        "engagement_browser": BrowserResource(sandbox_url=sandbox.base_url if sandbox else None),
    }


@pytest.mark.browser
def test_block_signal_fails_the_run_with_the_fix(engine, db_url, sandbox, browser, monkeypatch, tmp_path):
    from orchestration import engagement as eng
    from postpulse.engagement.secrets import load_vault

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", "k1:" + base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    vault = load_vault(create=False)
    acc = make_account(engine, vault, sandbox, browser)
    pid = posts_of(sandbox, n=40)[31]
    aid = queue(engine, vault, acc, "like", pid)
    sandbox.faults.set("action_blocked", actions=["like"])
    res = _resources(db_url, sandbox)
    box = {}
    t = threading.Thread(
        target=lambda: box.setdefault(
            "r",
            eng.engagement_execute_actions.execute_in_process(
                run_config={"ops": {"claim_actions": {"config": {"dry_run": False}}}},
                resources=res,
                raise_on_error=False,
            ),
        )
    )
    t.start()
    t.join(120)
    run = box["r"]
    assert not run.success
    (failure,) = [e for e in run.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "record_results"
    msg = failure.event_specific_data.error.message
    assert "@demo_x (x) is frozen until" in msg and "postpulse accounts resume demo_x" in msg
    # ... after everything was recorded: the action waits for the cool-down, nothing dropped
    row = action_row(engine, aid)
    assert row["status"] == "approved" and row["last_reason_code"] == "action_blocked"
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT frozen_until FROM accounts WHERE id = :a"), {"a": acc}
        ).scalar() > datetime.now(UTC)


def test_asset_check_and_cli_show_held_back_accounts(engine, db_url, store_env, monkeypatch):
    from assets.engagement.queue import action_queue_overview, engagement_accounts_ok
    from postpulse.cli import app

    with engine.begin() as conn:
        a = repo.add_account(conn, platform="x", username="demo_x", authorize=True, settings=OPEN_SETTINGS)
        b = repo.add_account(
            conn, platform="instagram", username="demo_instagram", authorize=True, settings=OPEN_SETTINGS
        )
    res = _resources(db_url)
    ok = dg.materialize([action_queue_overview, engagement_accounts_ok], resources={"store": res["store"]})
    (ev,) = ok.get_asset_check_evaluations()
    assert ev.passed

    until = datetime.now(UTC) + timedelta(hours=20)
    with engine.begin() as conn:
        repo.set_account_flags(
            conn, a["id"], frozen_until=until, frozen_reason="the platform showed an action-blocked notice"
        )
        repo.set_account_flags(conn, b["id"], needs_relogin=True)
    out = dg.materialize([action_queue_overview, engagement_accounts_ok], resources={"store": res["store"]})
    (ev,) = out.get_asset_check_evaluations()
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert ev.metadata["frozen"].value == 1 and ev.metadata["needs_relogin"].value == 1
    assert (
        "action-blocked notice" in ev.description
        and "postpulse accounts login demo_instagram" in ev.description
    )

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    r = CliRunner()
    for cmd in (["accounts", "list"], ["actions", "status"]):
        res_cli = r.invoke(app, cmd)
        assert res_cli.exit_code == 0, res_cli.output
        assert f"@demo_x (x) is frozen until {until:%Y-%m-%d %H:%M} UTC" in res_cli.output
        assert (
            "action-blocked notice" in res_cli.output and "postpulse accounts resume demo_x" in res_cli.output
        )
        assert (
            "needs a new login" in res_cli.output
            and "postpulse accounts login demo_instagram" in res_cli.output
        )
    # resume lifts the freeze: no more alert for it
    assert r.invoke(app, ["accounts", "resume", "demo_x"]).exit_code == 0
    after = r.invoke(app, ["accounts", "list"]).output
    assert "is frozen until" not in after and "postpulse accounts login demo_instagram" in after
