"""daily_metrics recomputed independently (pure Python differencing) from the raw snapshots."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import psycopg
import pytest

from postpulse.analytics import synthetic
from postpulse.analytics.daily import compute_daily, materialize_daily
from postpulse.store.urls import StoreUrls

from .conftest import utc

DAY0, DAY_END = date(2025, 1, 9), date(2025, 1, 18)


def reactions_of(s):
    return s.get("total_reactions") if s.get("total_reactions") is not None else s.get("like_count")


def engagement_of(s):
    parts = [reactions_of(s), s.get("comment_count"), s.get("share_count"), s.get("save_count")]
    return None if all(p is None for p in parts) else sum(p or 0 for p in parts)


def histories(snaps) -> dict[str, list[dict]]:
    """The snapshots of each post, in time order."""
    by_post = defaultdict(list)
    for s in snaps:
        by_post[s["post_id"]].append(s)
    return {post: sorted(ss, key=lambda s: s["downloaded_at"]) for post, ss in by_post.items()}


ZERO = "zero row"  # the key marking the row put in at posted_at


def with_zero_rows(snaps, posted: dict, start: date, max_gap_days: int = 31) -> dict[str, list[dict]]:
    """The histories with the zero row of the rule for engagement before the first snapshot: a
    post published at most 30 days (and at most the gap) before its first snapshot, not before
    the range's margin, starts at posted_at with 0 for each count its first snapshot has."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=max_gap_days)
    out = {}
    for post, ss in histories(snaps).items():
        at = posted.get(post)
        lead = ss[0]["downloaded_at"] - at if at is not None else None
        if at is not None and at >= lo and timedelta(0) < lead <= timedelta(days=min(30, max_gap_days)):
            zero = {
                k: (None if v is None else 0)
                for k, v in ss[0].items()
                if k.endswith(("_count", "_reactions"))
            }
            ss = [{"post_id": post, "downloaded_at": at, ZERO: True, **zero}] + ss
        out[post] = ss
    return out


def reference(snaps, start: date, end: date, max_gap_days=31, posted: dict | None = None):
    """Per (post, day): new engagement/likes/views spread by time over each snapshot pair,
    is_estimated, snapshots that day and end-of-day totals. Written without looking at the SQL.
    ``posted``: posted_at per post, for the zero rows (:func:`with_zero_rows`)."""
    out = {}
    for post, ss in with_zero_rows(snaps, posted or {}, start, max_gap_days).items():
        d = start
        while d < end:
            d0 = datetime(d.year, d.month, d.day, tzinfo=UTC)
            d1 = d0 + timedelta(days=1)
            new = {"engagement": None, "likes": None, "views": None}
            estimated, tracked = False, False
            for x, y in pairwise(ss):
                t0, t1 = x["downloaded_at"], y["downloaded_at"]
                if (t1 - t0) > timedelta(days=max_gap_days):
                    continue
                overlap = (min(t1, d1) - max(t0, d0)).total_seconds()
                if overlap <= 0:
                    continue
                tracked = True
                frac = overlap / (t1 - t0).total_seconds()
                if t0 < d0 or t1 > d1 or x.get(ZERO):
                    estimated = True
                for key, fn in (
                    ("engagement", engagement_of),
                    ("likes", lambda s: s.get("like_count")),
                    ("views", lambda s: s.get("view_count")),
                ):
                    a, b = fn(x), fn(y)
                    if a is not None and b is not None:
                        new[key] = (new[key] or 0) + (b - a) * frac
            on_day = [s for s in ss if d0 <= s["downloaded_at"] < d1 and not s.get(ZERO)]
            if on_day or tracked:
                last = [s for s in ss if s["downloaded_at"] < d1][-1]
                last = {} if last.get(ZERO) else last  # no snapshot yet: no totals
                out[(post, d)] = {
                    "engagement_new": new["engagement"],
                    "likes_new": new["likes"],
                    "views_new": new["views"],
                    "is_estimated": estimated,
                    "snapshots": len(on_day),
                    "likes_total": last.get("like_count"),
                    "views_total": last.get("view_count"),
                }
            d += timedelta(days=1)
    return out


def stored_rows(db_url, grain):
    with psycopg.connect(StoreUrls.from_base(db_url).libpq) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return {
            (r["entity_id"], r["metric_date"]): r
            for r in conn.execute("SELECT * FROM daily_metrics WHERE grain = %s", (grain,)).fetchall()
        }


def approx_equal(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) < 1e-6 * max(1, abs(b))


def test_post_rows_match_independent_recomputation(duck, db_url, scenario):
    materialize_daily(duck, db_url, DAY0, DAY_END)
    ref = reference(scenario["snaps"], DAY0, DAY_END, posted=scenario["published"])
    rows = stored_rows(db_url, "post")
    tracked = {k: v for k, v in rows.items() if v["posts_tracked"]}
    assert set(tracked) == set(ref), "tracked post-days differ"
    for key, exp in ref.items():
        got = rows[key]
        for col in ("engagement_new", "likes_new", "views_new"):
            assert approx_equal(got[col], exp[col]), (key, col, got[col], exp[col])
        assert got["is_estimated"] == exp["is_estimated"], key
        assert got["snapshots"] == exp["snapshots"], key
        assert got["likes_total"] == exp["likes_total"], key
        assert got["views_total"] == exp["views_total"], key


def test_worked_numbers_for_the_readme(duck, db_url, scenario):
    """Post A: same-day snapshots add up exactly; the 3-day gap is spread by time."""
    materialize_daily(duck, db_url, DAY0, DAY_END)
    rows = stored_rows(db_url, "post")
    a = scenario["posts"]["A"]
    # Jan 10: the 11 of the first snapshot (from zero at posted_at, an hour before), (34 - 11) +
    # (58 - 34) = 47 from the same-day pairs, plus 4 h of the 72 h gap pair
    gap_delta = (110 + 11 + 5 + 4) - (50 + 5 + 2 + 1)  # 72
    jan10 = rows[(a, date(2025, 1, 10))]
    assert jan10["engagement_new"] == pytest.approx(11 + (58 - 11) + gap_delta * 4 / 72)
    assert jan10["is_estimated"] is True
    assert rows[(a, date(2025, 1, 11))]["engagement_new"] == pytest.approx(gap_delta * 24 / 72)
    assert rows[(a, date(2025, 1, 13))]["engagement_new"] == pytest.approx(gap_delta * 20 / 72 + 1 * 4 / 12)
    # engagement rate = new engagement / new views (instagram has views)
    assert jan10["engagement_rate"] == pytest.approx(jan10["engagement_new"] / jan10["views_new"])


def test_engagement_before_the_first_snapshot_is_spread_from_publication(duck, db_url, scenario):
    """Post D was published Jan 12 12:00 and first seen Jan 15 12:00 with 540 engagement: the 540
    are spread over the 72 h from zero at posted_at, estimated; no totals before the first
    snapshot."""
    materialize_daily(duck, db_url, DAY0, DAY_END)
    rows = stored_rows(db_url, "post")
    d = scenario["posts"]["D"]
    expected = {12: 540 * 12 / 72, 13: 540 * 24 / 72, 14: 540 * 24 / 72, 15: 540 * 12 / 72 + 44 / 2}
    for day, eng in expected.items():
        row = rows[(d, date(2025, 1, day))]
        assert row["engagement_new"] == pytest.approx(eng), day
        assert row["is_estimated"] is True and row["posts_tracked"] == 1, day
        assert row["likes_total"] is (None if day < 15 else row["likes_total"]), day
    assert rows[(d, date(2025, 1, 12))]["posts_published"] == 1
    assert rows[(d, date(2025, 1, 12))]["snapshots"] == 0
    assert rows[(d, date(2025, 1, 15))]["likes_total"] == 500


def test_weekly_captures_add_up_to_the_final_totals(duck, db_url):
    """A weekly series of captures: each post's daily sums equal its final totals when posted_at
    is known and at most 30 days before its first capture; a post first seen later keeps its
    first capture as the baseline, and a snapshot captured before posted_at is left out."""
    ids = synthetic.add_dimension(db_url, workspace="weekly", platform="instagram", followers=100)
    first_capture = utc(2025, 5, 5, 9)
    lead_days = {"fresh": 0.2, "days": 6.5, "month": 29, "old": 45, "unknown": None}
    posts = dict(
        zip(
            lead_days,
            synthetic.add_posts(
                db_url,
                [
                    {
                        "platform": "instagram",
                        "posted_at": None if lead is None else first_capture - timedelta(days=lead),
                        "author_profile_id": ids["profile"],
                        "account_id": ids["account"],
                    }
                    for lead in lead_days.values()
                ],
            ),
            strict=True,
        )
    )
    snaps = []
    for k, post in enumerate(posts.values()):
        for week in range(5):
            likes, comments = 182 + 37 * week * (k + 1), 9 + 3 * week
            snaps.append(
                dict(
                    post_id=post,
                    downloaded_at=first_capture + timedelta(days=7 * week, hours=k),
                    like_count=likes,
                    comment_count=comments,
                    view_count=1000 * (week + 1),
                )
            )
    synthetic.add_snapshots(db_url, snaps)
    early = [dict(post_id=posts["days"], downloaded_at=first_capture - timedelta(days=10), like_count=3)]
    synthetic.add_snapshots(db_url, early)
    with psycopg.connect(StoreUrls.from_base(db_url).libpq) as conn:
        conn.execute(
            "UPDATE data_downloads SET captured_before_post = true WHERE post_id = %s AND like_count = 3",
            (posts["days"],),
        )
    materialize_daily(duck, db_url, date(2025, 3, 20), date(2025, 6, 10))
    rows = stored_rows(db_url, "post")
    for name, post in posts.items():
        mine = [r for (p, _), r in rows.items() if p == post]
        final = max(mine, key=lambda r: r["metric_date"] if r["likes_total"] is not None else date.min)
        likes = sum(r["likes_new"] or 0 for r in mine)
        engagement = sum(r["engagement_new"] or 0 for r in mine)
        views = sum(r["views_new"] or 0 for r in mine)
        if name in ("old", "unknown"):  # the baseline rule: the first capture's counts stay out
            assert likes == pytest.approx(final["likes_total"] - 182), name
            assert views == pytest.approx(final["views_total"] - 1000), name
        else:
            assert likes == pytest.approx(final["likes_total"]), name
            assert views == pytest.approx(final["views_total"]), name
            assert engagement == pytest.approx(final["likes_total"] + final["comments_total"]), name
    days_before = [
        r for (p, d), r in rows.items() if p == posts["month"] and d < first_capture.date()
    ]  # Apr 6..May 4
    assert len(days_before) == 29 and all(r["is_estimated"] and r["snapshots"] == 0 for r in days_before)


def test_single_snapshot_post_and_engagement_rate_by_followers(duck, db_url, scenario):
    materialize_daily(duck, db_url, DAY0, DAY_END)
    rows = stored_rows(db_url, "post")
    c = rows[(scenario["posts"]["C"], date(2025, 1, 11))]
    # one snapshot, 3 h after posting: its 7 came from zero at posted_at, an estimate
    assert c["snapshots"] == 1 and c["posts_tracked"] == 1 and c["engagement_new"] == pytest.approx(7)
    assert c["is_estimated"] is True and c["likes_total"] == 7
    assert c["is_settled"] is False  # its only pair is its peak
    b = rows[(scenario["posts"]["B"], date(2025, 1, 11))]
    # linkedin: no views -> per follower (500)
    assert b["engagement_rate"] == pytest.approx(b["engagement_new"] / 500)


def test_utc_day_boundaries(duck, db_url, scenario):
    """B's snapshots at 23:59 and 00:01 UTC: the 2-minute pair is split 1 min / 1 min."""
    materialize_daily(duck, db_url, DAY0, DAY_END)
    rows = stored_rows(db_url, "post")
    b = scenario["posts"]["B"]
    # Jan 12 gets half of (101+9) - (100+9) = 1 and nothing else
    assert rows[(b, date(2025, 1, 12))]["engagement_new"] == pytest.approx(0.5)
    assert rows[(b, date(2025, 1, 12))]["snapshots"] == 1
    # an offset timestamp (+02:00) is the UTC instant: 01:00+02:00 on Jan 20 is Jan 19 23:00 UTC
    synthetic.add_snapshots(
        db_url,
        [
            dict(
                post_id=b,
                downloaded_at=datetime.fromisoformat("2025-01-20T01:00:00+02:00"),
                total_reactions=120,
                comment_count=9,
            )
        ],
    )
    materialize_daily(duck, db_url, date(2025, 1, 19), date(2025, 1, 21))
    rows = stored_rows(db_url, "post")
    assert rows[(b, date(2025, 1, 19))]["snapshots"] == 1
    assert (b, date(2025, 1, 20)) not in rows


def test_rollups_sum_poststored_rows(duck, db_url, scenario):
    materialize_daily(duck, db_url, DAY0, DAY_END)
    posts = stored_rows(db_url, "post")
    ig, li = scenario["ig"], scenario["li"]
    for grain, entity, members in (
        ("platform", "instagram", [scenario["posts"][k] for k in "ACD"]),
        ("account", ig["account"], [scenario["posts"][k] for k in "ACD"]),
        ("profile", li["profile"], [scenario["posts"]["B"]]),
        ("workspace", ig["workspace"], [scenario["posts"][k] for k in "ABCD"]),  # B via its author's account
    ):
        rolled = stored_rows(db_url, grain)
        day = date(2025, 1, 11)
        r = rolled[(entity, day)]
        exp = sum((posts[(p, day)]["engagement_new"] or 0) for p in members if (p, day) in posts)
        assert r["engagement_new"] == pytest.approx(exp), grain
        assert r["posts_tracked"] == sum(
            posts[(p, day)]["posts_tracked"] for p in members if (p, day) in posts
        )
        assert r["posts_published"] == sum(
            posts[(p, day)]["posts_published"] for p in members if (p, day) in posts
        )


def test_idempotent_and_range_independent(duck, db_url, scenario):
    materialize_daily(duck, db_url, DAY0, DAY_END)
    first = {
        k: {c: v for c, v in r.items() if c != "computed_at"} for k, r in stored_rows(db_url, "post").items()
    }
    res = materialize_daily(duck, db_url, DAY0, DAY_END)
    again = {
        k: {c: v for c, v in r.items() if c != "computed_at"} for k, r in stored_rows(db_url, "post").items()
    }
    assert res.deleted > 0 and first == again
    # day by day gives the same numbers as the whole range in one pass
    d = DAY0
    while d < DAY_END:
        materialize_daily(duck, db_url, d, d + timedelta(days=1))
        d += timedelta(days=1)
    one_by_one = {
        k: {c: v for c, v in r.items() if c != "computed_at"} for k, r in stored_rows(db_url, "post").items()
    }
    assert one_by_one.keys() == first.keys()
    for k in first:
        for c in first[k]:
            if isinstance(first[k][c], float):
                assert first[k][c] == pytest.approx(one_by_one[k][c]), (k, c)
            else:
                assert first[k][c] == one_by_one[k][c], (k, c)


def test_empty_store_and_day_without_data(duck, db_url):
    res = materialize_daily(duck, db_url, date(2025, 1, 1), date(2025, 1, 2))
    assert res.rows == 0 and res.rows_by_grain == {}
    assert compute_daily(duck, date(2030, 1, 1), date(2030, 1, 3)) == 0


def test_settled_and_actions(duck, db_url):
    ids = synthetic.add_dimension(db_url, workspace="w2", platform="x", followers=10)
    (p,) = synthetic.add_posts(
        db_url,
        [
            {
                "platform": "x",
                "posted_at": utc(2025, 2, 1),
                "author_profile_id": ids["profile"],
                "account_id": ids["account"],
            }
        ],
    )
    # fast growth (100/h), then a crawl (1/h = 1% of the peak)
    synthetic.add_snapshots(
        db_url,
        [
            dict(post_id=p, downloaded_at=utc(2025, 2, 1, 1), like_count=100),
            dict(post_id=p, downloaded_at=utc(2025, 2, 1, 2), like_count=200),
            dict(post_id=p, downloaded_at=utc(2025, 2, 3, 2), like_count=248),
        ],
    )
    with psycopg.connect(StoreUrls.from_base(db_url).libpq) as conn:
        for i, status in enumerate(["success", "success", "failed"]):
            conn.execute(
                "INSERT INTO action_attempts (id, run_id, platform, action_type, account_id, target_type, "
                "target_id, "
                "status, attempted_at) VALUES (%s, 'r1', 'x', 'like', %s, 'post', %s, %s, %s)",
                (f"att-0000000{i}", ids["account"], f"t{i}", status, utc(2025, 2, 2, 10 + i)),
            )
    materialize_daily(duck, db_url, date(2025, 2, 1), date(2025, 2, 4))
    posts = stored_rows(db_url, "post")
    assert posts[(p, date(2025, 2, 1))]["is_settled"] is True  # the last pair started before day end crawls
    acc = stored_rows(db_url, "account")[(ids["account"], date(2025, 2, 2))]
    assert (acc["actions_completed"], acc["actions_failed"]) == (2, 1)
    ws = stored_rows(db_url, "workspace")[(ids["workspace"], date(2025, 2, 2))]
    assert (ws["actions_completed"], ws["actions_failed"]) == (2, 1)


def test_synthetic_bulk_load_restores_indexes_and_daily_runs(duck, db_url):
    """The benchmark's generator (COPY, deferred indexes) leaves the schema as it was, and its
    data goes through daily_metrics with every grain present."""
    sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'data_downloads' ORDER BY 1"
    with psycopg.connect(StoreUrls.from_base(db_url).libpq) as conn:
        before = conn.execute(sql).fetchall()
    g = synthetic.generate(db_url, snapshots=3000, end=date(2025, 3, 1), log=None, defer_indexes=True)
    with psycopg.connect(StoreUrls.from_base(db_url).libpq) as conn:
        assert conn.execute(sql).fetchall() == before
        assert conn.execute("SELECT count(*) FROM data_downloads").fetchone()[0] == g.snapshots
    res = materialize_daily(duck, db_url, date(2025, 2, 20), date(2025, 3, 1))
    assert set(res.rows_by_grain) == {"post", "profile", "account", "workspace", "tag", "platform"}
    assert res.snapshots_read > 0


def test_short_ranges_scan_only_posts_seen_from_start_with_the_samestored_rows(duck, db_url):
    """Up to NARROW_MAX_DAYS days only posts with a snapshot in [start, end + gap) are scanned; a
    longer range scans every post. Both give the same rows for every grain."""
    from postpulse.analytics.daily import NARROW_MAX_DAYS

    synthetic.generate(db_url, snapshots=4000, end=date(2025, 3, 1), log=None)
    cols = (
        "metric_date, grain, entity_id, platform, reactions_total, likes_total, views_total, engagement_new, "
        "engagement_rate, posts_published, posts_tracked, posts_settled, snapshots, is_estimated, is_settled"
    )
    long_start = date(2025, 3, 1) - timedelta(days=NARROW_MAX_DAYS + 3)
    counts = {}
    compute_daily(duck, long_start, date(2025, 3, 1), counts=counts)
    full_scan = counts["snapshots"]
    wide = {tuple(r[:3]): r for r in duck.con.execute(f"SELECT {cols} FROM dm_final").fetchall()}
    narrowed_rows, scanned = {}, []
    for i in range(NARROW_MAX_DAYS + 3):
        d = long_start + timedelta(days=i)
        compute_daily(duck, d, d + timedelta(days=1), counts=counts)
        scanned.append(counts["snapshots"])
        narrowed_rows.update(
            {tuple(r[:3]): r for r in duck.con.execute(f"SELECT {cols} FROM dm_final").fetchall()}
        )
    window = duck.con.execute(
        "SELECT count(*) FROM pg.public.data_downloads WHERE downloaded_at >= $lo AND downloaded_at < $hi",
        {"lo": utc(2025, 1, 28), "hi": utc(2025, 4, 1)},
    ).fetchone()[0]
    assert scanned[-1] < window / 2, (
        scanned[-1],
        window,
    )  # the posts whose next check has not happened are skipped
    assert full_scan >= window
    assert narrowed_rows.keys() == wide.keys()
    for k, row in wide.items():
        for a, b in zip(row, narrowed_rows[k], strict=True):
            assert a == pytest.approx(b) if isinstance(a, float) else a == b, (k, row, narrowed_rows[k])
