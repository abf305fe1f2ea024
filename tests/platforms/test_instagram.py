"""Instagram Graph API connector against the sandbox emulation.

Fixtures follow https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
(fields, cursors), .../ig-media/insights (reach, saved, shares, views; impressions only for media
created before 2024-07-02), .../ig-user/media_publish and .../ig-container (status_code polling,
carousels), .../ig-comment/replies, https://developers.facebook.com/docs/graph-api/overview/rate-limiting
(X-Business-Use-Case-Usage) and .../facebook-login/guides/access-tokens/get-long-lived.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from postpulse.platforms import instagram as ig_connector
from postpulse.platforms.accounts import open_connector
from postpulse.platforms.collect import collect_account
from postpulse.platforms.errors import PublishFailed, RateLimited, TokenRevoked
from postpulse.platforms.tokens import load_tokens

from .conftest import connect_in_chromium

pytestmark = pytest.mark.browser


def ig_usage(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT endpoint, status_code, ratelimit_remaining, run_id FROM api_usage "
                "WHERE provider = 'instagram' ORDER BY called_at, id"
            )
        ).all()


def test_connect_collect_publish_reply_and_renew(engine, vault, browser, instagram_env, sandbox, tmp_path):
    acc = connect_in_chromium(engine, vault, browser, "instagram")
    assert (acc["platform"], acc["username"]) == ("instagram", "postpulse.demo")
    with engine.connect() as conn:
        first = load_tokens(conn, vault, acc["id"])
    # the consent's short-lived token was exchanged for a long-lived one (60 days), no refresh token
    assert first.expires_at > datetime.now(UTC) + timedelta(days=59) and first.refresh_token is None

    res = collect_account(engine, vault, acc["id"], folder=tmp_path)
    media = dict(instagram_env.media)
    assert res.posts == len(media)
    with engine.connect() as conn:
        rows = {
            r.platform_post_id: r
            for r in conn.execute(
                text(
                    "SELECT p.platform_post_id, d.reach_count, d.save_count, d.share_count, d.view_count, "
                    "d.impression_count, d.like_count FROM posts p JOIN data_downloads d ON d.post_id = p.id "
                    "WHERE p.platform = 'instagram'"
                )
            )
        }
    for mid, m in media.items():
        row, ins = rows[mid], m["insights"]
        assert (row.reach_count, row.save_count, row.share_count, row.view_count) == (
            ins["reach"],
            ins["saved"],
            ins["shares"],
            ins["views"],
        )
        old = m["timestamp"] < ig_connector.IMPRESSIONS_UNTIL
        assert row.impression_count == (ins["impressions"] if old else None)
        assert row.like_count == m["like_count"]

    slept: list[float] = []
    conn_ = open_connector(engine, vault, acc["id"], sleep=slept.append)
    image = f"{sandbox.base_url}/media/instagram/launch.jpg"
    single = conn_.publish("Launch day #agency", media=[image])
    assert instagram_env.media[single["id"]]["caption"] == "Launch day #agency" and single["url"]
    carousel = conn_.publish("Behind the scenes", media=[image, f"{sandbox.base_url}/media/instagram/b.png"])
    assert instagram_env.media[carousel["id"]]["media_type"] == "CAROUSEL_ALBUM"
    assert slept  # the containers were polled until FINISHED

    mid = next(iter(media))
    comment = instagram_env.comments[mid][0]
    reply = conn_.reply(comment["id"], "Thank you!")
    assert comment["replies"][-1]["id"] == reply["id"]

    # a week before the 60 days end, the token is exchanged for a new long-lived one
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET token_expires_at = now() + interval '1 day' WHERE id = :i"),
            {"i": acc["id"]},
        )
    conn_.close()
    conn_ = open_connector(engine, vault, acc["id"])
    conn_.comments(mid)
    with engine.connect() as conn:
        second = load_tokens(conn, vault, acc["id"])
    assert second.access_token != first.access_token and second.expires_at > datetime.now(UTC) + timedelta(
        days=59
    )

    # a token that did expire cannot be renewed at Meta: the account is marked for reconnection
    instagram_env.oauth.expire_all()
    conn_.close()
    with pytest.raises(TokenRevoked, match="postpulse accounts connect instagram"):
        collect_account(engine, vault, acc["id"], folder=tmp_path)
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT needs_relogin FROM accounts WHERE id = :i"), {"i": acc["id"]}
        ).scalar()
    names = {c.endpoint for c in ig_usage(engine)}
    assert {
        "oauth.token",
        "oauth.exchange",
        "me.accounts",
        "ig_user.media",
        "ig_media.insights",
        "ig_media.comments",
    } <= names


def test_container_stuck_then_error_publishes_nothing(engine, vault, browser, instagram_env, sandbox):
    acc = connect_in_chromium(engine, vault, browser, "instagram")
    slept: list[float] = []
    conn_ = open_connector(engine, vault, acc["id"], sleep=slept.append)
    before = len(instagram_env.media)
    instagram_env.stuck_next = True
    with pytest.raises(PublishFailed, match="ERROR.*nothing was published"):
        conn_.publish("never", media=[f"{sandbox.base_url}/media/instagram/x.jpg"])
    assert len(instagram_env.media) == before
    polls = [c.status for c in conn_.calls if c.endpoint == "ig_container.status"]
    assert len(polls) == 3 and len(slept) == 2  # IN_PROGRESS, IN_PROGRESS, ERROR
    with pytest.raises(Exception, match="local file"):
        conn_.publish("local", media=["/tmp/photo.jpg"])
    conn_.close()


def test_usage_pacing_5xx_throttling_and_a_metric_missing_from_this_version(
    engine, vault, browser, instagram_env, tmp_path, monkeypatch
):
    acc = connect_in_chromium(engine, vault, browser, "instagram")
    instagram_env.faults.arm("ig_user.media", status=500, times=1)
    instagram_env.usage_pct, instagram_env.usage_step = 80, 3  # passes 90 % during the collection
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the usage window passes while the collection pauses
        slept.append(seconds)
        if seconds >= 55:
            instagram_env.usage_pct = 0

    # impressions asked for media this version no longer has them for: the other metrics are kept
    monkeypatch.setattr(ig_connector, "IMPRESSIONS_UNTIL", datetime.now(UTC) + timedelta(days=1))
    res = collect_account(engine, vault, acc["id"], folder=tmp_path, sleep=sleep)
    assert res.posts > 0 and res.run_id
    assert any("impressions not available" in n for n in res.notes), res.message
    assert slept and max(slept) >= 55  # paused for the usage window before reaching 100 %
    calls = [c for c in ig_usage(engine) if c.run_id == res.run_id]
    assert [c.status_code for c in calls if c.endpoint == "ig_user.media"][:2] == [500, 200]
    assert min(c.ratelimit_remaining for c in calls if c.ratelimit_remaining is not None) <= 10

    instagram_env.usage_pct, instagram_env.usage_step = 100, 0
    with pytest.raises(RateLimited, match="rate limit"):
        collect_account(engine, vault, acc["id"], folder=tmp_path)
