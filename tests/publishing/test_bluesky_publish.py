"""The acceptance run: one item with a sandbox variant (a browser driver) and a Bluesky variant
(the AT Protocol API driver, on the real local stack), approved and scheduled a minute ahead, is
published exactly once per variant, both URLs recorded, both posts tracked with their account and
snapshotted by check-backs; a run that died after sending publishes nothing twice."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from postpulse.bluesky.accounts import connect_account
from postpulse.bluesky.appview import AppView
from postpulse.bluesky.checkbacks import run_bluesky_checkbacks
from postpulse.checkbacks.fetchers import SandboxFetcher
from postpulse.checkbacks.runner import run_checkbacks
from postpulse.crypto import Keyring, Vault
from postpulse.publishing import items, schedule
from postpulse.publishing.items import ItemInput, MediaSpec
from postpulse.publishing.runner import executor_factory, run_publishing
from tests.bluesky.conftest import wait_until
from tests.engagement.conftest import OPEN_SETTINGS, make_account

from .conftest import make_image

pytestmark = pytest.mark.browser


def _records(client, did: str, body: str) -> list:
    listed = client.com.atproto.repo.list_records(
        {"repo": did, "collection": "app.bsky.feed.post", "limit": 50}
    )
    return [r for r in listed.records if r.value.text == body]


def test_sandbox_and_bluesky_variants_published_once_and_tracked(
    bluesky_stack, new_account, engine, sandbox, browser, home, tmp_path
):
    vault = Vault(Keyring.generate("test1"))
    ours = new_account("pub")
    connect_account(engine, vault, ours.handle, ours.password, service=bluesky_stack.urls.pds, authorize=True)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET settings = CAST(:s AS jsonb) WHERE username = :h"),
            {"s": json.dumps(OPEN_SETTINGS), "h": ours.handle},
        )
    make_account(engine, vault, sandbox, browser, username="demo_x", platform="x")
    body = f"Both networks {secrets.token_hex(3)} \U0001f680"
    img = make_image(tmp_path / "launch.png")
    at = datetime.now(UTC) + timedelta(minutes=1)
    with engine.begin() as conn:
        item = items.create_item(
            conn,
            ItemInput(text=body, accounts=["demo_x", ours.handle], media=[MediaSpec(str(img), "a red box")]),
        )
        items.submit(conn, item)
        items.approve(conn, item)
        schedule.schedule_item(conn, item, at)
    make = executor_factory(
        engine, vault, browser, base_url=sandbox.base_url, backoff_base=0.05, backoff_max=0.1
    )
    assert run_publishing(engine, make_executor=make, base_url=sandbox.base_url).started == []  # not yet due

    # the minute passes (moved forward in the store rather than waited for; every clock stays real)
    with engine.begin() as conn:
        conn.execute(text("UPDATE publications SET scheduled_for = scheduled_for - interval '61 seconds'"))
    run = run_publishing(engine, make_executor=make, base_url=sandbox.base_url)
    assert len(run.published) == 2, run
    assert len(_records(ours.client, ours.did, body)) == 1
    sandbox_posts = [
        p for p in sandbox.world.visible_posts("x", sandbox.clock.now(), "demo_x") if p.text == body
    ]
    assert len(sandbox_posts) == 1
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT a.platform, p.platform_post_url, s.id AS post_id, s.account_id, "
                    "p.account_id AS pub_account, "
                    "s.platform AS post_platform FROM publications p JOIN accounts a ON a.id = p.account_id "
                    "JOIN posts s ON s.id = p.post_id WHERE p.content_item_id = :i ORDER BY a.platform"
                ),
                {"i": item},
            )
            .mappings()
            .all()
        )
        assert items.get_item_row(conn, item)["status"] == "published"
    assert [r["platform"] for r in rows] == ["bluesky", "x"]
    assert all(r["account_id"] == r["pub_account"] for r in rows)
    assert rows[0]["platform_post_url"].startswith("https://bsky.app/profile/")
    assert rows[1]["platform_post_url"].startswith(sandbox.base_url + "/x/")

    # a run that died after Bluesky accepted the post: the action is left in progress, unrecorded
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE publications SET status = 'publishing', post_id = NULL WHERE content_item_id = :i "
                "AND account_id = (SELECT id FROM accounts WHERE platform = 'bluesky')"
            ),
            {"i": item},
        )
        conn.execute(
            text(
                "UPDATE action_queue SET status = 'in_progress', claimed_by = 'publishing-dead' "
                "WHERE id = (SELECT action_id FROM publications WHERE content_item_id = :i "
                "AND status = 'publishing')"
            ),
            {"i": item},
        )
        conn.execute(text("UPDATE action_attempts SET status = 'failed' WHERE status = 'success'"))
        conn.execute(text("DELETE FROM posts WHERE platform = 'bluesky'"))
    again = run_publishing(engine, make_executor=make, base_url=sandbox.base_url)
    assert again.released == 1 and len(again.published) == 1, again
    assert len(_records(ours.client, ours.did, body)) == 1  # found, not sent again

    # check-backs snapshot both posts, each from where it lives
    with engine.connect() as conn:
        ids = dict(
            conn.execute(
                text(
                    "SELECT s.platform, s.id FROM publications p JOIN posts s ON s.id = p.post_id "
                    "WHERE p.content_item_id = :i"
                ),
                {"i": item},
            ).all()
        )
    with AppView(bluesky_stack.urls.appview) as av:
        assert wait_until(lambda: run_bluesky_checkbacks(engine, [ids["bluesky"]], appview=av).checked == 1)
    fetcher = SandboxFetcher(sandbox.base_url)
    try:
        assert run_checkbacks(engine, [ids["x"]], fetcher).checked == 1
    finally:
        fetcher.close()
    with engine.connect() as conn:
        snaps = conn.execute(
            text("SELECT count(DISTINCT post_id) FROM data_downloads WHERE post_id = ANY(:ids)"),
            {"ids": list(ids.values())},
        ).scalar()
    assert snaps == 2
