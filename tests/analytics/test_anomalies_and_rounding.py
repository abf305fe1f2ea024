"""Anomalies as events (a spread gap flagged once, on the day of its capture), counts that look
rounded, and snapshots captured before posted_at left out of the per-post reports."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from postpulse.analytics import queries, synthetic
from postpulse.analytics.daily import materialize_daily
from postpulse.store.urls import StoreUrls

from .conftest import utc


def _weekly_post(db_url, weekly_gains: list[int]) -> str:
    """A post captured every 7 days at 23:30 (hardly any of a week's gain falls on its first
    capture day), posted_at unknown: each gap is spread over its 7 days."""
    ids = synthetic.add_dimension(db_url, workspace="events", platform="x", followers=None)
    (post,) = synthetic.add_posts(
        db_url, [{"platform": "x", "posted_at": None, "author_profile_id": ids["profile"]}]
    )
    likes, snaps = 100, []
    for week, gain in enumerate([0, *weekly_gains]):
        likes += gain
        snaps.append(
            dict(
                post_id=post,
                downloaded_at=utc(2025, 3, 2, 23, 30) + timedelta(days=7 * week),
                like_count=likes,
            )
        )
    synthetic.add_snapshots(db_url, snaps)
    return post


def test_a_spread_weekly_gain_is_one_event_on_the_capture_day(duck, db_url):
    post = _weekly_post(db_url, [70, 70, 70, 70, 700, 70, 70])
    # from the day after the first capture (that day holds half an hour of growth: a "drop")
    materialize_daily(duck, db_url, date(2025, 3, 3), date(2025, 4, 22))
    found = queries.get("anomalies").run(duck, {"grain": "post", "days": 100_000})
    mine = found[found["entity_id"] == post]
    spike_capture = (utc(2025, 3, 2, 23, 30) + timedelta(days=35)).date()
    assert list(mine["metric_date"].dt.date) == [spike_capture], mine
    row = mine.iloc[0]
    assert row["kind"] == "spike" and row["days_spread"] == 7 and bool(row["is_estimated"])
    assert row["engagement_new"] == pytest.approx(700, abs=5)  # the week's gain, not a seventh of it
    # the daily rows still spread the gain: seven days of about 100 each
    spread = duck.sql(
        "SELECT count(*) AS n FROM daily_metrics "
        "WHERE grain = 'post' AND entity_id = $p AND engagement_new > 90",
        {"p": post},
    )["n"][0]
    assert spread >= 6


def test_rounded_counts_are_flagged_and_a_flat_rounded_count_is_not_settled(duck, db_url):
    """1.4M -> 1.6M -> 1.6M -> 1.6M views and likes: the flat weeks are no sign of settling."""
    ids = synthetic.add_dimension(db_url, workspace="rounded", platform="youtube", followers=None)
    (post,) = synthetic.add_posts(
        db_url, [{"platform": "youtube", "posted_at": None, "author_profile_id": ids["profile"]}]
    )
    shown = [1_400_000, 1_600_000, 1_600_000, 1_600_000]
    snaps = [
        dict(
            post_id=post,
            downloaded_at=utc(2025, 6, 1, 12) + timedelta(days=7 * i),
            like_count=v,
            view_count=v * 10,
        )
        for i, v in enumerate(shown)
    ]
    synthetic.add_snapshots(db_url, snaps)
    materialize_daily(duck, db_url, date(2025, 6, 1), date(2025, 6, 23))
    rows = duck.sql(
        "SELECT metric_date, is_rounded, is_settled, likes_total FROM daily_metrics "
        "WHERE grain = 'post' AND entity_id = $p ORDER BY metric_date",
        {"p": post},
    )
    assert rows["is_rounded"].all()
    after_flat = rows[rows["metric_date"].dt.date >= date(2025, 6, 8)]
    assert after_flat["is_settled"].isna().all(), after_flat  # undecided, not True
    profile = duck.sql(
        "SELECT bool_and(is_rounded) AS r FROM daily_metrics WHERE grain = 'profile' AND entity_id = $p",
        {"p": ids["profile"]},
    )["r"][0]
    assert profile
    flags = duck.sql(
        "SELECT likes, is_rounded FROM snapshots WHERE post_id = $p ORDER BY downloaded_at", {"p": post}
    )
    assert flags["is_rounded"].all()
    checks = duck.sql(
        "SELECT v, looks_rounded(v) AS r FROM (VALUES (999), (1000), (1250), (14500), (14510), "
        "(1234000), (1230000), (0), (NULL)) t(v) ORDER BY v NULLS LAST"
    )
    assert list(checks["r"]) == [False, False, True, False, True, False, True, False, False]


def test_snapshots_captured_before_posting_are_left_out_of_post_reports(duck, db_url, scenario):
    a = scenario["posts"]["A"]
    before = queries.get("post_metrics").run(duck)
    half_before = queries.get("time_to_half_engagement").run(duck)
    synthetic.add_snapshots(
        db_url, [dict(post_id=a, downloaded_at=utc(2025, 1, 10, 9), like_count=900, comment_count=0)]
    )
    with psycopg.connect(StoreUrls.from_base(db_url).libpq) as conn:
        conn.execute(
            "UPDATE data_downloads SET captured_before_post = true WHERE post_id = %s AND like_count = 900",
            (a,),
        )
    after = queries.get("post_metrics").run(duck)
    assert after.fillna(-1).equals(before.fillna(-1))
    assert queries.get("time_to_half_engagement").run(duck).equals(half_before)
    curves = queries.get("growth_curves").run(duck)
    assert (curves[curves["post_id"] == a]["engagement"] != 900).all()
