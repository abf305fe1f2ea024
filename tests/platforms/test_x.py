"""X API v2 connector against the sandbox emulation.

Fixtures follow https://docs.x.com/x-api/posts/get-posts-by-user (pagination, tweet.fields),
https://docs.x.com/x-api/fundamentals/metrics (non_public_metrics: own posts of the last 30
days only), https://docs.x.com/x-api/posts/create-post (reply, quote, media_ids),
https://docs.x.com/x-api/media/media-upload, https://docs.x.com/x-api/users/like-post and
https://docs.x.com/x-api/fundamentals/rate-limits (x-rate-limit-* headers, 429 until the reset).
"""

from __future__ import annotations

import struct
import time
import zlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from postpulse.platforms.accounts import open_connector
from postpulse.platforms.collect import collect_account
from postpulse.platforms.errors import NotFound, TokenRevoked
from postpulse.platforms.tokens import load_tokens

from .conftest import connect_in_chromium

pytestmark = pytest.mark.browser
OURS = "1500000000000000001"


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\x00\xff\x00"))
        + chunk(b"IEND", b"")
    )


def x_usage(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT endpoint, status_code, ratelimit_limit, ratelimit_remaining, ratelimit_reset_at, "
                "run_id FROM api_usage WHERE provider = 'x' ORDER BY called_at, id"
            )
        ).all()


def test_connect_collect_publish_reply_and_refresh(engine, vault, browser, x_env, tmp_path):
    acc = connect_in_chromium(engine, vault, browser, "x")
    assert (acc["username"], acc["platform"]) == ("postpulse_demo", "x")
    with engine.connect() as conn:
        first = load_tokens(conn, vault, acc["id"])

    res = collect_account(engine, vault, acc["id"], folder=tmp_path)
    ours = {
        t["id"]: t for t in x_env.tweets.values() if t["author_id"] == OURS and "in_reply_to_user_id" not in t
    }
    assert res.posts == len(ours)
    with engine.connect() as conn:
        rows = {
            r.platform_post_id: r
            for r in conn.execute(
                text(
                    "SELECT p.platform_post_id, p.account_id, d.like_count, d.impression_count, "
                    "d.click_count, d.save_count, d.quote_count FROM posts p "
                    "JOIN data_downloads d ON d.post_id = p.id WHERE p.platform = 'x'"
                )
            )
        }
        n_comments = conn.execute(
            text("SELECT count(*) FROM comments c JOIN posts p ON p.id = c.post_id WHERE p.platform = 'x'")
        ).scalar()
    month_ago = datetime.now(UTC) - timedelta(days=30)
    for tid, t in ours.items():
        row = rows[tid]
        assert row.account_id == acc["id"] and row.like_count == t["public_metrics"]["like_count"]
        assert row.save_count == t["public_metrics"]["bookmark_count"]
        assert row.impression_count == t["public_metrics"]["impression_count"]
        # link clicks are non-public metrics: only for the last 30 days, unknown (not 0) before
        fresh = t["created_at"] > month_ago
        assert row.click_count == (t["non_public_metrics"]["url_link_clicks"] if fresh else None)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    recent_replies = [
        t
        for t in x_env.tweets.values()
        if t.get("in_reply_to_user_id") == OURS and ours[t["conversation_id"]]["created_at"] > week_ago
    ]
    assert n_comments == res.comments == len(recent_replies)

    conn_ = open_connector(engine, vault, acc["id"])
    image = tmp_path / "chart.png"
    image.write_bytes(png_bytes())
    post = conn_.publish("Our numbers this week", media=[str(image)])
    created = x_env.tweets[post["id"]]
    assert created["attachments"]["media_keys"] == [f"3_{next(iter(x_env.media))}"]
    target = max(ours, key=lambda i: ours[i]["created_at"])
    reply = conn_.reply(target, "Thanks for reading!")
    assert x_env.tweets[reply["id"]]["referenced_tweets"] == [{"type": "replied_to", "id": target}]
    quote = conn_.quote(target, "Worth a second look")
    assert x_env.tweets[quote["id"]]["referenced_tweets"] == [{"type": "quoted", "id": target}]
    before = x_env.tweets[target]["public_metrics"]["like_count"]
    assert conn_.like(target)["liked"] and x_env.tweets[target]["public_metrics"]["like_count"] == before + 1

    x_env.oauth.expire_all()
    conn_.delete(quote["id"])
    assert quote["id"] not in x_env.tweets
    conn_.close()
    with engine.connect() as conn:
        second = load_tokens(conn, vault, acc["id"])
    # X rotates refresh tokens: the new one is stored, the old one no longer works
    assert second.access_token != first.access_token and second.refresh_token != first.refresh_token

    calls = x_usage(engine)
    names = [c.endpoint for c in calls]
    for name in (
        "oauth.token",
        "users.me",
        "users.tweets",
        "search.recent",
        "media.upload",
        "tweets.create",
        "users.likes",
        "tweets.delete",
        "oauth.refresh",
    ):
        assert name in names, name
    timeline = [c for c in calls if c.endpoint == "users.tweets"]
    assert all(c.ratelimit_limit == 900 and c.ratelimit_reset_at is not None for c in timeline)
    assert timeline[0].run_id == res.run_id


def test_collection_slows_down_before_the_limit_and_waits_out_a_429(engine, vault, browser, x_env):
    acc = connect_in_chromium(engine, vault, browser, "x")
    x_env.limits["users.tweets"] = (3, 1.5)  # three calls per 1.5 s window
    conn_ = open_connector(engine, vault, acc["id"])
    conn_.page_size = 5
    posts = conn_.collect_posts(limit=12)  # three pages: the third waits for the window's reset
    statuses = [(c.endpoint, c.status) for c in conn_.calls if c.endpoint == "users.tweets"]
    assert len(posts) == 12 and statuses == [("users.tweets", 200)] * 3
    assert conn_.session.waited_s > 0

    # someone else used the window up: a 429 with its reset, waited out, then the call goes through
    x_env.windows[("users.tweets", OURS)] = [time.time() + 1.0, 99]
    conn_.calls.clear()
    conn_.collect_posts(limit=5)
    assert [c.status for c in conn_.calls if c.endpoint == "users.tweets"] == [429, 200]
    conn_.close()


def test_5xx_retried_deleted_posts_and_revoked_access(engine, vault, browser, x_env, tmp_path):
    acc = connect_in_chromium(engine, vault, browser, "x")
    x_env.faults.arm("users.tweets", status=503, times=2)
    res = collect_account(engine, vault, acc["id"], folder=tmp_path)
    assert res.posts > 0
    assert [c.status_code for c in x_usage(engine) if c.run_id == res.run_id][:3] == [503, 503, 200]

    conn_ = open_connector(engine, vault, acc["id"])
    gone = conn_.publish("to be deleted")["id"]
    conn_.delete(gone)
    with pytest.raises(NotFound, match="deleted or not visible"):
        conn_.reply(gone, "hello?")
    with pytest.raises(NotFound, match="Could not find tweet"):
        conn_.delete(gone)
    conn_.close()

    x_env.oauth.revoke(OURS)
    with pytest.raises(TokenRevoked, match="postpulse accounts connect x"):
        collect_account(engine, vault, acc["id"], folder=tmp_path)
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT needs_relogin FROM accounts WHERE id = :i"), {"i": acc["id"]}
        ).scalar()


def test_emulation_validates_like_the_reference(sandbox, engine, vault, browser, x_env):
    acc = connect_in_chromium(engine, vault, browser, "x")
    with engine.connect() as conn:
        token = load_tokens(conn, vault, acc["id"]).access_token
    base = f"{sandbox.base_url}/official/x/2"
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.get(f"{base}/users/{OURS}/tweets", params={"max_results": 1000}, headers=auth)
    assert r.status_code == 400 and "is not between 5 and 100" in r.json()["errors"][0]["message"]
    assert r.headers["x-rate-limit-limit"] == "900"
    r = httpx.get(f"{base}/users/{OURS}/tweets", params={"tweet.fields": "views"}, headers=auth)
    assert r.status_code == 400 and r.json()["title"] == "Invalid Request"
    r = httpx.get(
        f"{base}/users/{OURS}/tweets",
        params={"tweet.fields": "non_public_metrics", "max_results": 100},
        headers=auth,
    )
    body = r.json()
    old = [e for e in body.get("errors", []) if e["title"] == "Field Authorization Error"]
    assert old and all(
        "non_public_metrics" not in t for t in body["data"] if t["id"] in {e["value"] for e in old}
    )
    r = httpx.get(f"{base}/users/{OURS}/tweets", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"
