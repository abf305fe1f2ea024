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

import pytest
from sqlalchemy import text

from postpulse.platforms.accounts import open_connector
from postpulse.platforms.collect import collect_account
from postpulse.platforms.tokens import load_tokens

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
                    "SELECT p.platform_post_id, p.account_id, s.view_count AS views, s.like_count AS likes FROM posts p "
                    "JOIN data_downloads s ON s.post_id = p.id WHERE p.platform = 'youtube'"
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

    from postpulse.platforms.usage import record_calls

    with engine.begin() as conn:
        record_calls(conn, "youtube", conn_.calls, account_id=acc["id"])
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
