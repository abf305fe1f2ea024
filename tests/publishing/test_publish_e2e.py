"""Publishing for real: the sandbox site in a real Chromium, through the action queue.

An approved item scheduled a minute ahead is published once per variant, its URL recorded, the
post tracked and snapshotted by a check-back; the platform down mid-publish defers and then
publishes once; a process killed with SIGKILL after sending publishes nothing twice on rerun."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from postpulse.checkbacks.fetchers import SandboxFetcher
from postpulse.checkbacks.runner import run_checkbacks
from postpulse.crypto import Keyring, Vault
from postpulse.publishing import items, schedule
from postpulse.publishing.items import ItemInput
from postpulse.publishing.report import by_platform, planned_vs_actual
from postpulse.publishing.runner import executor_factory, run_publishing
from tests.engagement.conftest import make_account

pytestmark = pytest.mark.browser


@pytest.fixture
def key_value() -> str:
    return "t1:" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def vault(key_value) -> Vault:
    return Vault(Keyring.parse_env_value(key_value))


def scheduled_item(engine, accounts, body: str, at: datetime) -> str:
    with engine.begin() as conn:
        item = items.create_item(conn, ItemInput(text=body, accounts=accounts))
        items.submit(conn, item)
        items.approve(conn, item, actor="ana")
        schedule.schedule_item(conn, item, at)
    return item


def published_with(sandbox, platform: str, username: str, body: str) -> list[str]:
    return [
        p.post_id
        for p in sandbox.world.visible_posts(platform, sandbox.clock.now(), username)
        if p.text == body and p.published_live
    ]


def publish(engine, vault, sandbox, browser, now_fn):
    make = executor_factory(
        engine, vault, browser, base_url=sandbox.base_url, now_fn=now_fn, backoff_base=0.05, backoff_max=0.1
    )
    return run_publishing(engine, make_executor=make, now_fn=now_fn, base_url=sandbox.base_url)


def test_two_variants_published_once_tracked_and_checked(engine, vault, sandbox, browser, home):
    make_account(engine, vault, sandbox, browser, username="demo_x", platform="x")
    make_account(engine, vault, sandbox, browser, username="demo_threads", platform="threads")
    body = f"Launch day {secrets.token_hex(3)}"
    at = datetime.now(UTC) + timedelta(minutes=1)
    item = scheduled_item(engine, ["demo_x", "demo_threads"], body, at)
    early = publish(engine, vault, sandbox, browser, lambda: datetime.now(UTC))
    assert early.started == []  # not due yet
    run = publish(engine, vault, sandbox, browser, lambda: at + timedelta(seconds=5))
    assert len(run.started) == 2 and len(run.published) == 2, run
    assert len(published_with(sandbox, "x", "demo_x", body)) == 1
    assert len(published_with(sandbox, "threads", "demo_threads", body)) == 1
    with engine.connect() as conn:
        pubs = (
            conn.execute(
                text(
                    "SELECT p.status, p.platform_post_id, p.platform_post_url, p.post_id, "
                    "s.account_id, s.url, "
                    "s.next_check_at, s.posted_at, p.account_id AS pub_account FROM publications p "
                    "JOIN posts s ON s.id = p.post_id WHERE p.content_item_id = :i"
                ),
                {"i": item},
            )
            .mappings()
            .all()
        )
        assert items.get_item_row(conn, item)["status"] == "published"
    assert len(pubs) == 2
    for p in pubs:
        assert p["status"] == "published" and p["account_id"] == p["pub_account"]
        assert (
            p["platform_post_url"].startswith(sandbox.base_url + "/") and p["url"] == p["platform_post_url"]
        )
        assert p["next_check_at"] > p["posted_at"]
    # a rerun publishes nothing more
    again = publish(engine, vault, sandbox, browser, lambda: at + timedelta(minutes=2))
    assert again.started == [] and len(published_with(sandbox, "x", "demo_x", body)) == 1
    # check-backs snapshot the published posts
    fetcher = SandboxFetcher(sandbox.base_url)
    try:
        for p in pubs:  # one check-back run per platform
            res = run_checkbacks(engine, [p["post_id"]], fetcher, now=at + timedelta(hours=2))
            assert res.checked == 1, res
    finally:
        fetcher.close()
    with engine.connect() as conn:
        snaps = conn.execute(
            text("SELECT count(DISTINCT post_id) FROM data_downloads WHERE post_id = ANY(:ids)"),
            {"ids": [p["post_id"] for p in pubs]},
        ).scalar()
    assert snaps == 2
    with engine.connect() as conn:
        rows = planned_vs_actual(conn, item_id=item)
    assert {r["platform"] for r in rows} == {"x", "threads"}
    assert all(r["published_at"] and r["delay_s"] is not None and r["checks_completed"] >= 1 for r in rows)
    assert {r["platform"]: r["published"] for r in by_platform(rows)} == {"x": 1, "threads": 1}


def test_platform_down_mid_publish_defers_then_publishes_once(engine, vault, sandbox, browser, home):
    make_account(engine, vault, sandbox, browser, username="demo_x", platform="x")
    body = f"Outage {secrets.token_hex(3)}"
    at = datetime.now(UTC)
    item = scheduled_item(engine, ["demo_x"], body, at)
    sandbox.faults.set("server_error", path_prefix="/x/compose", count=50)
    run = publish(engine, vault, sandbox, browser, lambda: at + timedelta(seconds=1))
    assert run.published == [] and run.failed == [] and len(run.waiting) == 1, run
    assert "server_error" in run.waiting[0] and "next try" in run.waiting[0]
    sandbox.faults.clear()
    later = publish(engine, vault, sandbox, browser, lambda: at + timedelta(hours=1))
    assert len(later.published) == 1, later
    assert len(published_with(sandbox, "x", "demo_x", body)) == 1
    with engine.connect() as conn:
        assert items.get_item_row(conn, item)["status"] == "published"


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime, timedelta, UTC
    from playwright.sync_api import sync_playwright
    from postpulse.browser import launch_args
    from postpulse.crypto import Keyring, Vault
    from postpulse.engagement.executor import Executor
    from postpulse.publishing.runner import executor_factory, run_publishing
    from postpulse.store.database import make_engine

    def killed(self, results):  # sent, not yet recorded: the process dies here
        assert any(r.ok for r in results)
        os.kill(os.getpid(), signal.SIGKILL)

    Executor.record = killed
    engine = make_engine(os.environ["DATABASE_URL"])
    vault = Vault(Keyring.parse_env_value(os.environ["POSTPULSE_SECRET_KEY"]))
    with sync_playwright() as pw:
        b = pw.chromium.launch(**launch_args())
        make = executor_factory(engine, vault, b, base_url=sys.argv[1])
        run_publishing(engine, make_executor=make, base_url=sys.argv[1])
""")


def test_killed_after_sending_rerun_publishes_nothing_twice(
    engine, db_url, vault, key_value, sandbox, browser, home
):
    make_account(engine, vault, sandbox, browser, username="demo_x", platform="x")
    body = f"Crash test {secrets.token_hex(3)}"
    item = scheduled_item(engine, ["demo_x"], body, datetime.now(UTC) - timedelta(seconds=1))
    env = {**os.environ, "DATABASE_URL": db_url, "POSTPULSE_SECRET_KEY": key_value, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, sandbox.base_url], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert len(published_with(sandbox, "x", "demo_x", body)) == 1  # it was sent
    with engine.connect() as conn:
        pub = conn.execute(
            text("SELECT status, action_id FROM publications WHERE content_item_id = :i"), {"i": item}
        ).one()
        assert pub.status == "publishing"  # intent recorded, outcome not
    rerun = publish(engine, vault, sandbox, browser, lambda: datetime.now(UTC))
    assert rerun.released == 1 and len(rerun.published) == 1, rerun
    assert len(published_with(sandbox, "x", "demo_x", body)) == 1  # found, not sent again
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT p.platform_post_id, s.id FROM publications p JOIN posts s ON s.id = "
                "p.post_id WHERE p.content_item_id = :i"
            ),
            {"i": item},
        ).one()
    assert row.platform_post_id == published_with(sandbox, "x", "demo_x", body)[0]


def test_dagster_job_publishes_due_item(
    engine, db_url, vault, key_value, sandbox, browser, home, monkeypatch
):
    from orchestration.publishing import publishing_publish_due
    from resources.browser import BrowserResource
    from resources.store import PostgresStore
    from resources.vault import VaultResource

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", key_value)
    make_account(engine, vault, sandbox, browser, username="demo_linkedin", platform="linkedin")
    body = f"From the job {secrets.token_hex(3)}"
    item = scheduled_item(engine, ["demo_linkedin"], body, datetime.now(UTC) - timedelta(seconds=1))
    resources = {
        "store": PostgresStore(database_url=db_url),
        "engagement_vault": VaultResource(),
        "engagement_browser": BrowserResource(sandbox_url=sandbox.base_url),
    }
    # its own thread: this module's Chromium already runs Playwright's loop in the main thread
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(publishing_publish_due.execute_in_process, resources=resources).result()
    assert result.success and result.output_for_node("publish_due") == {"published": 1}
    assert len(published_with(sandbox, "linkedin", "demo_linkedin", body)) == 1
    with engine.connect() as conn:
        assert items.get_item_row(conn, item)["status"] == "published"
