"""YouTube Data API v3 connector against the sandbox emulation.

Fixtures follow https://developers.google.com/youtube/v3/docs/videos/list (statistics as strings,
likeCount absent when hidden), .../playlistItems/list (uploads playlist paging),
.../commentThreads/list, .../comments/insert, .../videos/insert, .../thumbnails/set and
https://developers.google.com/youtube/v3/determine_quota_cost (units per call).
"""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from postpulse.platforms.accounts import open_connector
from postpulse.platforms.collect import collect_account
from postpulse.platforms.errors import NotFound, RateLimited, TokenRevoked
from postpulse.platforms.tokens import load_tokens
from postpulse.sandbox.official import youtube as emu

from .conftest import connect_in_chromium

pytestmark = pytest.mark.browser
OUR_CHANNEL = "UCpostpulseDemoChannel01"


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def usage(engine, account_id=None) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT endpoint, status_code, quota_units, run_id, account_id FROM api_usage "
                    "WHERE provider = 'youtube' ORDER BY called_at, id"
                )
            ).mappings()
        ]


def test_connect_collect_publish_reply_and_refresh(engine, vault, browser, youtube_env, tmp_path):
    acc = connect_in_chromium(engine, vault, browser, "youtube")
    assert acc["platform"] == "youtube" and acc["username"] == "postpulsedemo"
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT access_token_encrypted, refresh_token_encrypted, token_expires_at, "
                "platform_user_id FROM accounts WHERE id = :id"
            ),
            {"id": acc["id"]},
        ).one()
        first = load_tokens(conn, vault, acc["id"])
    assert row.platform_user_id == OUR_CHANNEL
    assert first.access_token.encode() not in bytes(row.access_token_encrypted)  # encrypted at rest
    assert first.refresh_token and row.token_expires_at > datetime.now(UTC) + timedelta(minutes=50)

    # collect our uploads with statistics and comments: one download run through the ingest loader
    res = collect_account(engine, vault, acc["id"], folder=tmp_path)
    ours = [v for v in youtube_env.videos.values() if v["snippet"]["channelId"] == OUR_CHANNEL]
    assert res.posts == len(ours) and res.comments == sum(len(youtube_env.threads[v["id"]]) for v in ours)
    with engine.connect() as conn:
        snaps = {
            r.platform_post_id: r
            for r in conn.execute(
                text(
                    "SELECT p.platform_post_id, p.account_id, s.view_count AS views, s.like_count AS likes "
                    "FROM posts p JOIN data_downloads s ON s.post_id = p.id WHERE p.platform = 'youtube'"
                )
            )
        }
        n_comments = conn.execute(
            text(
                "SELECT count(*) FROM comments c JOIN posts p ON p.id = c.post_id "
                "WHERE p.platform = 'youtube'"
            )
        ).scalar()
    assert set(snaps) == {v["id"] for v in ours}
    for v in ours:
        snap, stats = snaps[v["id"]], v["statistics"]
        assert snap.account_id == acc["id"] and snap.views == int(stats["viewCount"])
        assert snap.likes == (int(stats["likeCount"]) if "likeCount" in stats else None)  # hidden: unknown
    assert n_comments == res.comments

    # publish a video with a thumbnail image
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 sandbox video")
    thumb = tmp_path / "thumb.png"
    thumb.write_bytes(png_bytes())
    conn_ = open_connector(engine, vault, acc["id"])
    published = conn_.publish("Launch day\nWhat we built", media=[str(video), str(thumb)])
    new = youtube_env.videos[published["id"]]
    assert new["snippet"]["title"] == "Launch day" and new["snippet"]["thumbnails"]["default"]["url"]

    # reply to a comment
    thread = youtube_env.threads[ours[0]["id"]][0]
    reply = conn_.reply(thread["id"], "Thanks for watching!")
    assert thread["replies"]["comments"][-1]["id"] == reply["id"]
    assert thread["replies"]["comments"][-1]["snippet"]["textOriginal"] == "Thanks for watching!"

    # the token expires: the next call is answered 401, refreshed once, repeated; stored at once
    youtube_env.oauth.expire_all()
    conn_.like(ours[1]["id"])
    conn_.close()
    with engine.connect() as conn:
        second = load_tokens(conn, vault, acc["id"])
    assert second.access_token != first.access_token and second.refresh_token == first.refresh_token

    # a refresh *before* expiry: a stored expiry inside the margin refreshes before calling
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET token_expires_at = now() + interval '30 seconds' WHERE id = :id"),
            {"id": acc["id"]},
        )
    res2 = collect_account(engine, vault, acc["id"], folder=tmp_path)
    assert res2.run_id != res.run_id

    calls = usage(engine)
    endpoints = [c["endpoint"] for c in calls]
    for name in (
        "oauth.token",
        "channels.list",
        "playlistItems.list",
        "videos.list",
        "commentThreads.list",
        "videos.insert",
        "thumbnails.set",
        "comments.insert",
        "videos.rate",
        "oauth.refresh",
    ):
        assert name in endpoints, name
    assert endpoints.count("oauth.refresh") == 2  # after the 401, and before the near expiry
    assert any(c["status_code"] == 401 for c in calls)
    by_endpoint = {c["endpoint"]: c["quota_units"] for c in calls}
    assert by_endpoint["comments.insert"] == 50 and by_endpoint["videos.list"] == 1
    assert {c["run_id"] for c in calls if c["endpoint"] == "playlistItems.list"} == {res.run_id, res2.run_id}


def _connected(engine, vault, browser) -> dict:
    return connect_in_chromium(engine, vault, browser, "youtube")


def _runs(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM download_runs WHERE platform = 'youtube'")).scalar()


def test_5xx_is_retried_429_waits_for_its_reset_and_the_quota_stops_before_the_limit(
    engine, vault, browser, youtube_env, tmp_path, monkeypatch
):
    acc = _connected(engine, vault, browser)
    youtube_env.faults.arm("videos.list", status=503, times=2)
    youtube_env.faults.arm("playlistItems", status=429, times=1)
    slept: list[float] = []
    res = collect_account(engine, vault, acc["id"], folder=tmp_path, sleep=slept.append)
    assert res.posts > 0 and res.run_id
    statuses = [(c["endpoint"], c["status_code"]) for c in usage(engine) if c["run_id"] == res.run_id]
    assert statuses.count(("videos.list", 503)) == 2 and ("videos.list", 200) in statuses
    assert ("playlistItems.list", 429) in statuses
    assert 30.0 in slept  # the 429's Retry-After, waited once instead of failing

    # the day's quota: a collection that would pass it stops before the call, nothing is loaded
    monkeypatch.setenv(
        "POSTPULSE_YOUTUBE_DAILY_QUOTA", str(sum(c["quota_units"] or 0 for c in usage(engine)) + 2)
    )
    before = _runs(engine)
    with pytest.raises(RateLimited, match="would pass the day's quota"):
        collect_account(engine, vault, acc["id"], folder=tmp_path)
    assert _runs(engine) == before


def test_revoked_grant_marks_the_account_for_reconnection_and_loses_nothing(
    engine, vault, browser, youtube_env, tmp_path
):
    acc = _connected(engine, vault, browser)
    collect_account(engine, vault, acc["id"], folder=tmp_path)
    before = _runs(engine)
    youtube_env.oauth.revoke(OUR_CHANNEL)
    with pytest.raises(TokenRevoked, match="postpulse accounts connect youtube"):
        collect_account(engine, vault, acc["id"], folder=tmp_path)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT needs_relogin, status, last_error_message FROM accounts WHERE id = :id"),
            {"id": acc["id"]},
        ).one()
        posts = conn.execute(
            text("SELECT count(*) FROM posts WHERE account_id = :id"), {"id": acc["id"]}
        ).scalar()
    assert row.needs_relogin and row.status == "expired" and "connect" in row.last_error_message
    assert _runs(engine) == before and posts > 0  # the earlier collection is intact
    assert [c["status_code"] for c in usage(engine)][-2:] == [401, 400]  # the call, then the refused refresh
    # connecting again clears the flag
    again = _connected(engine, vault, browser)
    assert again["id"] == acc["id"] and not again["needs_relogin"]


def test_a_revoked_scope_and_a_deleted_video_are_clear_errors(engine, vault, browser, youtube_env, tmp_path):
    acc = _connected(engine, vault, browser)
    conn_ = open_connector(engine, vault, acc["id"])
    victim = next(v for v in youtube_env.videos.values() if v["snippet"]["channelId"] == OUR_CHANNEL)
    comment = youtube_env.threads[victim["id"]][0]["id"]
    conn_.delete(victim["id"])
    with pytest.raises(NotFound, match="commentNotFound"):
        conn_.reply(comment, "too late")
    youtube_env.oauth.drop_scope(emu.SCOPE_SSL)
    with pytest.raises(TokenRevoked, match="permission postpulse needs was revoked"):
        conn_.like(next(iter(youtube_env.videos)))
    conn_.close()


def test_emulation_validates_requests_like_the_reference(sandbox, youtube_env):
    base = f"{sandbox.base_url}/official/youtube/youtube/v3"
    vid = next(iter(youtube_env.videos))
    r = httpx.get(f"{base}/videos", params={"id": vid, "key": emu.API_KEY})
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["reason"] == "required"
    r = httpx.get(f"{base}/videos", params={"id": vid, "part": "statistics", "key": "wrong"})
    assert r.status_code == 400 and "API key not valid" in r.json()["error"]["message"]
    r = httpx.get(f"{base}/videos", params={"id": vid, "part": "statistics", "key": emu.API_KEY})
    item = r.json()["items"][0]
    assert set(item) == {"kind", "etag", "id", "statistics"} and isinstance(
        item["statistics"]["viewCount"], str
    )
    r = httpx.get(
        f"{base}/playlistItems", params={"part": "contentDetails", "playlistId": "UUnope", "key": emu.API_KEY}
    )
    assert r.status_code == 404 and r.json()["error"]["errors"][0]["reason"] == "playlistNotFound"
    uploads = "UU" + OUR_CHANNEL[2:]
    r = httpx.get(
        f"{base}/playlistItems",
        params={"part": "contentDetails", "playlistId": uploads, "maxResults": 2, "key": emu.API_KEY},
    )
    page = r.json()
    assert len(page["items"]) == 2 and page["nextPageToken"]
    r = httpx.post(f"{base}/comments", params={"part": "snippet"}, json={})
    assert r.status_code == 403  # writes need OAuth


def test_checkbacks_read_statistics_with_an_api_key(engine, vault, browser, youtube_env, tmp_path):
    from postpulse.checkbacks.runner import run_checkbacks
    from postpulse.checkbacks.youtube_fetcher import YouTubeApiFetcher

    acc = _connected(engine, vault, browser)
    collect_account(engine, vault, acc["id"], folder=tmp_path)
    with engine.connect() as conn:
        posts = dict(
            conn.execute(
                text("SELECT platform_post_id, id FROM posts WHERE platform = 'youtube' AND account_id = :a"),
                {"a": acc["id"]},
            ).all()
        )
    alive = [v for v in posts if v in youtube_env.videos]
    gone = alive[-1]
    youtube_env.videos[alive[0]]["statistics"]["viewCount"] = "999999"
    del youtube_env.videos[gone]
    fetcher = YouTubeApiFetcher(emu.API_KEY, engine=engine)
    res = run_checkbacks(engine, [posts[v] for v in alive], fetcher)
    fetcher.close()
    assert res.checked == len(alive) - 1 and res.deleted == 1
    with engine.connect() as conn:
        views = conn.execute(
            text("SELECT max(view_count) FROM data_downloads WHERE post_id = :p"), {"p": posts[alive[0]]}
        ).scalar()
    assert views == 999999
    keyed = [c for c in usage(engine) if c["endpoint"] == "videos.list" and c["account_id"] is None]
    assert keyed and keyed[-1]["quota_units"] == 1
    bad = YouTubeApiFetcher("wrong-key")
    out = bad.fetch_many([{"platform": "youtube", "platform_post_id": alive[0], "url": None}])
    assert out[0].status == "error" and "API key not valid" in out[0].error
