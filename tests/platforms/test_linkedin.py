"""LinkedIn Community Management connector against the sandbox emulation.

Fixtures follow https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
(q=author finder, 201 + x-restli-id), .../shares/images-api (initializeUpload, PUT upload),
.../shares/comments-api (parentComment replies), .../organizations/share-statistics
(totalShareStatistics) and https://learn.microsoft.com/en-us/linkedin/marketing/versioning
(LinkedIn-Version: VERSION_MISSING 400, NONEXISTENT_VERSION 426).
"""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from postpulse.platforms.accounts import open_connector
from postpulse.platforms.collect import collect_account
from postpulse.platforms.errors import InvalidRequest, NotFound, RateLimited
from postpulse.platforms.linkedin import default_version
from postpulse.platforms.tokens import load_tokens
from postpulse.sandbox.official import linkedin as emu

from .conftest import connect_in_chromium

pytestmark = pytest.mark.browser


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\xff"))
        + chunk(b"IEND", b"")
    )


def months_ago(n: int) -> str:
    today = datetime.now(UTC)
    total = today.year * 12 + today.month - 1 - n
    return f"{total // 12}{total % 12 + 1:02d}"


def test_connect_collect_publish_reply_and_refresh(engine, vault, browser, linkedin_env, tmp_path):
    acc = connect_in_chromium(engine, vault, browser, "linkedin")
    assert (acc["platform"], acc["username"]) == ("linkedin", "postpulse-demo")
    with engine.connect() as conn:
        first = load_tokens(conn, vault, acc["id"])

    res = collect_account(engine, vault, acc["id"], folder=tmp_path)
    assert res.posts == len(linkedin_env.posts) and not res.notes
    with engine.connect() as conn:
        rows = {
            r.platform_post_id: r
            for r in conn.execute(
                text(
                    "SELECT p.platform_post_id, d.impression_count, d.reach_count, d.click_count, "
                    "d.like_count FROM posts p JOIN data_downloads d ON d.post_id = p.id "
                    "WHERE p.platform = 'linkedin'"
                )
            )
        }
        n_comments = conn.execute(
            text(
                "SELECT count(*) FROM comments c JOIN posts p ON p.id = c.post_id "
                "WHERE p.platform = 'linkedin'"
            )
        ).scalar()
    for urn, s in linkedin_env.stats.items():
        assert (rows[urn].impression_count, rows[urn].reach_count, rows[urn].click_count) == (
            s["impressionCount"],
            s["uniqueImpressionsCount"],
            s["clickCount"],
        )
    assert n_comments == sum(len(c) for c in linkedin_env.comments.values())

    image = tmp_path / "team.png"
    image.write_bytes(png_bytes())
    conn_ = open_connector(engine, vault, acc["id"])
    post = conn_.publish("We are hiring", media=[str(image)])
    created = linkedin_env.posts[post["id"]]
    assert (
        created["content"]["media"]["id"] in linkedin_env.images and created["commentary"] == "We are hiring"
    )

    urn = next(u for u, cs in linkedin_env.comments.items() if cs)
    parent = linkedin_env.comments[urn][0]
    reply = conn_.reply(parent["$URN"], "Thank you!", post_id=urn)
    assert parent["replies"][-1]["$URN"] == reply["id"]
    conn_.like(urn)
    assert (emu.ORG, urn) in linkedin_env.reactions

    linkedin_env.oauth.expire_all()
    conn_.delete(post["id"])
    assert post["id"] not in linkedin_env.posts
    with pytest.raises(NotFound, match="does not exist"):
        conn_.reply(parent["$URN"], "late", post_id=post["id"])
    conn_.close()
    with engine.connect() as conn:
        second = load_tokens(conn, vault, acc["id"])
        names = {
            r[0] for r in conn.execute(text("SELECT endpoint FROM api_usage WHERE provider = 'linkedin'"))
        }
    assert second.access_token != first.access_token and second.refresh_token == first.refresh_token
    assert {
        "oauth.token",
        "organizationAcls",
        "posts.list",
        "organizationalEntityShareStatistics",
        "socialActions.comments",
        "oauth.refresh",
    } <= names


def test_versions_a_field_an_older_version_lacks_and_the_daily_limit(
    engine, vault, browser, linkedin_env, sandbox, tmp_path, monkeypatch
):
    acc = connect_in_chromium(engine, vault, browser, "linkedin")
    with engine.connect() as conn:
        token = load_tokens(conn, vault, acc["id"]).access_token
    r = httpx.get(
        f"{sandbox.base_url}/official/linkedin/rest/posts",
        params={"q": "author", "author": emu.ORG},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 400 and r.json()["code"] == "VERSION_MISSING"
    assert default_version() < datetime.now(UTC).strftime("%Y%m")

    monkeypatch.setenv("POSTPULSE_LINKEDIN_VERSION", months_ago(14))
    with pytest.raises(InvalidRequest, match="POSTPULSE_LINKEDIN_VERSION"):
        collect_account(engine, vault, acc["id"], folder=tmp_path)

    monkeypatch.setenv("POSTPULSE_LINKEDIN_VERSION", months_ago(9))  # active, but without unique impressions
    res = collect_account(engine, vault, acc["id"], folder=tmp_path)
    assert res.posts and "reach stays unknown" in res.message
    with engine.connect() as conn:
        reach = conn.execute(
            text("SELECT count(reach_count) FROM data_downloads WHERE run_id = :r"), {"r": res.run_id}
        ).scalar()
    assert reach == 0

    monkeypatch.delenv("POSTPULSE_LINKEDIN_VERSION")
    linkedin_env.faults.arm("posts.list", status=502, times=1)
    assert collect_account(engine, vault, acc["id"], folder=tmp_path).posts  # a 5xx is retried
    linkedin_env.daily_limit = linkedin_env.calls_today + 1
    with pytest.raises(RateLimited, match="midnight UTC"):
        collect_account(engine, vault, acc["id"], folder=tmp_path)
