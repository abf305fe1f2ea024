"""Fixtures for analytics tests: small exact data sets built with postpulse.analytics.synthetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from postpulse.analytics import synthetic
from postpulse.analytics.duck import open_analytics


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def duck(db_url):
    a = open_analytics(db_url)
    yield a
    a.close()


@pytest.fixture
def scenario(db_url):
    """Four posts with hand-written snapshots (see test_daily for what each one exercises)."""
    ig = synthetic.add_dimension(db_url, workspace="acme", platform="instagram", followers=1000)
    li = synthetic.add_dimension(db_url, workspace="acme", platform="linkedin", followers=500)
    a_id, b_id, c_id, d_id = synthetic.add_posts(
        db_url,
        [
            {
                "platform": "instagram",
                "posted_at": utc(2025, 1, 10, 10),
                "author_profile_id": ig["profile"],
                "account_id": ig["account"],
            },
            {"platform": "linkedin", "posted_at": utc(2025, 1, 10, 22), "author_profile_id": li["profile"]},
            {
                "platform": "instagram",
                "posted_at": utc(2025, 1, 11, 9),
                "author_profile_id": ig["profile"],
                "account_id": ig["account"],
            },
            {
                "platform": "instagram",
                "posted_at": utc(2025, 1, 12, 12),
                "author_profile_id": ig["profile"],
                "account_id": ig["account"],
            },
        ],
    )
    snaps = [
        # A: three snapshots on one day, then a 3-day gap, then one more (instagram: likes, views)
        dict(
            post_id=a_id,
            downloaded_at=utc(2025, 1, 10, 11),
            like_count=10,
            comment_count=1,
            share_count=0,
            view_count=100,
            save_count=0,
        ),
        dict(
            post_id=a_id,
            downloaded_at=utc(2025, 1, 10, 15),
            like_count=30,
            comment_count=3,
            share_count=1,
            view_count=400,
            save_count=1,
        ),
        dict(
            post_id=a_id,
            downloaded_at=utc(2025, 1, 10, 20),
            like_count=50,
            comment_count=5,
            share_count=2,
            view_count=900,
            save_count=1,
        ),
        dict(
            post_id=a_id,
            downloaded_at=utc(2025, 1, 13, 20),
            like_count=110,
            comment_count=11,
            share_count=5,
            view_count=2100,
            save_count=4,
        ),
        dict(
            post_id=a_id,
            downloaded_at=utc(2025, 1, 14, 8),
            like_count=111,
            comment_count=11,
            share_count=5,
            view_count=2150,
            save_count=4,
        ),
        # B: linkedin (total_reactions, no views), pair crossing midnight, boundary timestamps
        dict(
            post_id=b_id,
            downloaded_at=utc(2025, 1, 10, 23, 0),
            total_reactions=20,
            like_count=15,
            comment_count=2,
        ),
        dict(
            post_id=b_id,
            downloaded_at=utc(2025, 1, 11, 1, 0),
            total_reactions=60,
            like_count=45,
            comment_count=6,
        ),
        dict(
            post_id=b_id,
            downloaded_at=utc(2025, 1, 11, 23, 59),
            total_reactions=100,
            like_count=80,
            comment_count=9,
        ),
        dict(
            post_id=b_id,
            downloaded_at=utc(2025, 1, 12, 0, 1),
            total_reactions=101,
            like_count=81,
            comment_count=9,
        ),
        # C: a single snapshot
        dict(post_id=c_id, downloaded_at=utc(2025, 1, 11, 12), like_count=7, comment_count=0, view_count=50),
        # D: published Jan 12, first seen Jan 15 with lots of engagement, then Jan 16
        dict(
            post_id=d_id,
            downloaded_at=utc(2025, 1, 15, 12),
            like_count=500,
            comment_count=40,
            view_count=9000,
        ),
        dict(
            post_id=d_id,
            downloaded_at=utc(2025, 1, 16, 12),
            like_count=540,
            comment_count=44,
            view_count=9900,
        ),
    ]
    synthetic.add_snapshots(db_url, snaps)
    return {
        "posts": {"A": a_id, "B": b_id, "C": c_id, "D": d_id},
        "snaps": snaps,
        "ig": ig,
        "li": li,
        "published": {
            a_id: utc(2025, 1, 10, 10),
            b_id: utc(2025, 1, 10, 22),
            c_id: utc(2025, 1, 11, 9),
            d_id: utc(2025, 1, 12, 12),
        },
    }
