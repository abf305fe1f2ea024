"""The official-API driver through the engagement registry, and `postpulse accounts connect`
as a user runs it (the consent page opened in Chromium from the printed URL).

Fixtures: the YouTube emulation (https://developers.google.com/youtube/v3/docs/comments/insert,
https://developers.google.com/youtube/v3/docs/videos/rate) and Google's loopback OAuth flow
(https://developers.google.com/identity/protocols/oauth2/native-app).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from postpulse.engagement.drivers.base import ActionTask, TargetNotFound
from postpulse.engagement.drivers.registry import open_driver, resolve
from postpulse.engagement.secrets import load_vault

from .conftest import connect_in_chromium

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def _task(acc: dict, action: str, target: str, **kw) -> ActionTask:
    return ActionTask(
        action_id="act-1",
        attempt_id="att-1",
        run_id="manual",
        account_id=acc["id"],
        platform="youtube",
        site="youtube",
        username=acc["username"],
        action_type=action,
        target_type="post",
        target_id=target,
        driver="official_youtube",
        **kw,
    )


def test_registry_resolves_the_api_driver_and_it_acts(engine, store_env, browser, youtube_env):
    vault = load_vault(create=True, engine=engine)  # the key file the driver reads, as in production
    acc = connect_in_chromium(engine, vault, browser, "youtube")
    name, site = resolve("youtube", acc["metadata"])
    assert (name, site) == ("official_youtube", "youtube")
    driver = open_driver(name, None, base_url="", site=site, username=acc["username"], storage_state=None)
    ours = next(
        v
        for v in youtube_env.videos.values()
        if v["snippet"]["channelId"] == acc["metadata"].get("user_id", "UCpostpulseDemoChannel01")
        and youtube_env.threads.get(v["id"])
    )
    thread = youtube_env.threads[ours["id"]][0]
    result, check = driver.perform(_task(acc, "reply", thread["id"], post_ref=ours["id"]), "Thank you!")
    assert check.verified and thread["replies"]["comments"][-1]["id"] == result["id"]
    assert driver.verify(_task(acc, "reply", thread["id"]), result, "Thank you!").verified
    with pytest.raises(TargetNotFound):
        driver.perform(_task(acc, "reply", "Ug-no-such-comment"), "hello?")
    driver.close()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT endpoint, status_code FROM api_usage WHERE account_id = :a "
                "AND endpoint = 'comments.insert'"
            ),
            {"a": acc["id"]},
        ).all()
    assert sorted(r.status_code for r in rows) == [200, 404]


def test_cli_connect_prints_the_consent_url_and_stores_the_account(store_env, engine, browser, youtube_env):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "400"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "postpulse",
            "accounts",
            "connect",
            "youtube",
            "--no-browser",
            "--timeout",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    url = None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        m = re.search(r"(http://127\.0\.0\.1:\d+/official/youtube/o/oauth2/v2/auth\?\S+)", line)
        if m:
            url = m.group(1)
            break
    assert url, "".join(lines)
    assert "code_challenge_method=S256" in url and "client_secret" not in url
    page = browser.new_page()
    page.goto(url)
    page.click("#allow")
    page.close()
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    assert "postpulsedemo on youtube connected" in out and "tokens stored encrypted" in out
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT access_token_encrypted IS NOT NULL FROM accounts WHERE platform = 'youtube'")
        ).scalar()


def test_app_credentials_from_the_vault_and_usage_report(store_env, engine, monkeypatch):
    from typer.testing import CliRunner

    from postpulse.cli import app
    from postpulse.platforms.errors import NotConfigured
    from postpulse.platforms.tokens import app_credentials

    for var in ("POSTPULSE_X_CLIENT_ID", "POSTPULSE_X_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    with engine.connect() as conn, pytest.raises(NotConfigured, match="POSTPULSE_X_CLIENT_ID"):
        app_credentials("x", conn, load_vault(create=True, engine=engine))
    runner = CliRunner()
    res = runner.invoke(
        app, ["platforms", "set-app", "x", "--client-id", "my-client"], input="s3cret-value\n"
    )
    assert res.exit_code == 0, res.output
    assert "s3cret-value" not in res.output
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT value::text FROM app_settings WHERE key = 'official_app:x'")
        ).scalar()
        assert "s3cret-value" not in stored  # encrypted in the vault
        assert app_credentials("x", conn, load_vault(create=False)) == ("my-client", "s3cret-value")
    res = runner.invoke(app, ["accounts", "connect", "myspace"])
    assert res.exit_code == 1 and "no official API connector for 'myspace'" in res.output
    res = runner.invoke(app, ["platforms", "usage", "--days", "7"])
    assert res.exit_code == 0 and "quota units" in res.output


def _authorized_x_account(engine, browser) -> tuple:
    """The vault and an X account connected through the consent page, authorized, open limits."""
    import json

    from tests.engagement.conftest import OPEN_SETTINGS

    vault = load_vault(create=True, engine=engine)
    acc = connect_in_chromium(engine, vault, browser, "x")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET is_authorized = true, settings = CAST(:s AS jsonb) WHERE id = :i"),
            {"s": json.dumps(OPEN_SETTINGS), "i": acc["id"]},
        )
    return vault, acc


def test_executor_policy_and_audit_run_api_actions_unchanged(engine, store_env, browser, x_env, tmp_path):
    """Queued, approved actions of an X account go through the executor with no browser."""

    from postpulse.engagement import repository as repo
    from postpulse.engagement.executor import Executor, ExecutorConfig

    from .test_x import OURS, png_bytes

    vault, acc = _authorized_x_account(engine, browser)
    target = max((t for t in x_env.tweets.values() if t["author_id"] == OURS), key=lambda t: t["created_at"])
    image = tmp_path / "card.png"
    image.write_bytes(png_bytes())

    def queue(action_type: str, **kw) -> str:
        with engine.begin() as conn:
            row = repo.add_action(conn, account=acc["id"], action_type=action_type, platform="x", **kw).action
            repo.decide(conn, [row["id"]], "approve")
        return row["id"]

    ids = {
        "like": queue("like", target_id=target["id"]),
        "reply": queue("reply", target_id=target["id"], post_id=target["id"], text_value="Glad you liked it"),
        "publish": queue("publish", text_value="Fresh chart of the week", params={"media": [str(image)]}),
    }
    summary = Executor(
        engine, vault, config=ExecutorConfig(backoff_base=0.05, backoff_max=0.2)
    ).run_until_idle()
    assert summary.get("claimed") == 3, summary
    with engine.connect() as conn:
        rows = {
            a: conn.execute(
                text(
                    "SELECT q.status, t.status AS attempt, v.verified, q.last_error FROM action_queue q "
                    "LEFT JOIN action_attempts t ON t.action_id = q.id "
                    "LEFT JOIN verification_results v ON v.id = t.verification_id WHERE q.id = :a"
                ),
                {"a": i},
            ).one()
            for a, i in ids.items()
        }
        audited = conn.execute(
            text("SELECT count(*) FROM audit_entries WHERE account_id = :a AND action_id IS NOT NULL"),
            {"a": acc["id"]},
        ).scalar()
        calls = {
            r[0]
            for r in conn.execute(
                text("SELECT endpoint FROM api_usage WHERE account_id = :a"), {"a": acc["id"]}
            )
        }
    assert all((r.status, r.attempt, r.verified) == ("completed", "success", True) for r in rows.values()), (
        rows
    )
    assert (OURS, target["id"]) in x_env.likes and audited >= 3
    assert any(t["text"] == "Fresh chart of the week" and "attachments" in t for t in x_env.tweets.values())
    with engine.connect() as conn:
        result = conn.execute(
            text("SELECT result FROM action_attempts WHERE action_id = :a AND status = 'success'"),
            {"a": ids["publish"]},
        ).scalar()
    assert result["platform_post_id"] in x_env.tweets and result["url"].startswith(
        "https://x.com/postpulse_demo/"
    )
    assert {"users.likes", "tweets.create", "media.upload"} <= calls


def test_dagster_asset_collects_every_connected_account(engine, store_env, browser, youtube_env, x_env):
    import dagster as dg

    from assets.platforms.collection import official_api_accounts_connected, official_api_posts
    from orchestration.definitions import defs
    from resources.store import PostgresStore
    from resources.vault import VaultResource

    assert defs.resolve_job_def("official_api_collect") is not None
    vault = load_vault(create=True, engine=engine)
    yt = connect_in_chromium(engine, vault, browser, "youtube")
    connect_in_chromium(engine, vault, browser, "x")
    result = dg.materialize(
        [official_api_posts, official_api_accounts_connected],
        resources={"store": PostgresStore(database_url=store_env), "platforms_vault": VaultResource()},
    )
    assert result.success
    md = result.asset_materializations_for_node("official_api_posts")[0].metadata
    assert (
        md["accounts"].value == 2 and md["failed_accounts"].value == 0 and md["dagster/row_count"].value > 0
    )
    checks = result.get_asset_check_evaluations()
    assert checks and checks[0].passed
    youtube_env.oauth.revoke()  # one account loses its grant: the other is still collected, the check warns
    result = dg.materialize(
        [official_api_posts, official_api_accounts_connected],
        resources={"store": PostgresStore(database_url=store_env), "platforms_vault": VaultResource()},
    )
    md = result.asset_materializations_for_node("official_api_posts")[0].metadata
    assert md["failed_accounts"].value == 1 and "postpulse accounts connect youtube" in md["failures"].value
    assert not result.get_asset_check_evaluations()[0].passed
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT needs_relogin FROM accounts WHERE id = :i"), {"i": yt["id"]}
        ).scalar()


def test_the_author_of_an_unknown_post_is_asked_of_the_api_before_acting(engine, store_env, browser, x_env):
    """A user opted out: their post, which the store has never seen, is not liked (its author
    looked up through the X API first); a post by someone else is liked, and a post that does not
    exist is refused with its reason."""
    from postpulse.engagement import repository as repo
    from postpulse.engagement.executor import Executor, ExecutorConfig

    from .test_x import OURS

    vault, acc = _authorized_x_account(engine, browser)
    with engine.begin() as conn:
        repo.add_blocklist_entry(
            conn, entry_type="user", value="a_follower", platform="x", added_by="opt_out", reason="asked"
        )
    theirs = next(t for t in x_env.tweets.values() if x_env.users[t["author_id"]]["username"] == "a_follower")
    ours = next(t for t in x_env.tweets.values() if t["author_id"] == OURS)

    def like(target: str) -> str:
        with engine.begin() as conn:
            row = repo.add_action(conn, account=acc["id"], action_type="like", platform="x", target_id=target)
            repo.decide(conn, [row.action["id"]], "approve")
        return row.action["id"]

    refused, liked, missing = like(theirs["id"]), like(ours["id"]), like("1999999999999999999")
    Executor(engine, vault, config=ExecutorConfig(backoff_base=0.05, backoff_max=0.2)).run_until_idle()
    with engine.connect() as conn:
        status = {
            a: tuple(
                conn.execute(
                    text("SELECT status, last_reason_code FROM action_queue WHERE id = :a"), {"a": a}
                ).one()
            )
            for a in (refused, liked, missing)
        }
        lookups = conn.execute(
            text("SELECT count(*) FROM api_usage WHERE account_id = :a AND endpoint = 'tweets.lookup'"),
            {"a": acc["id"]},
        ).scalar()
    assert status[refused] == ("rejected", "opted_out")
    assert status[liked][0] == "completed"
    assert status[missing] == ("rejected", "author_unknown")
    assert (OURS, theirs["id"]) not in x_env.likes and (OURS, ours["id"]) in x_env.likes
    assert lookups == 3
