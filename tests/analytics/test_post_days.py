"""The numpy kernel of daily_metrics (postpulse.analytics.post_days) against pure-Python
recomputations, on random snapshot histories with NULL counts, exact midnights and long gaps;
chunking and threads must not change a value."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from postpulse.analytics.daily_rows import post_rollup_input
from postpulse.analytics.post_days import DayRange, post_days, post_days_in_chunks, window_max

from .test_daily import ZERO, approx_equal, engagement_of, reactions_of, reference, with_zero_rows

START, END = date(2025, 3, 1), date(2025, 3, 15)
EPOCH = date(1970, 1, 1)
GAP_DAYS = 31


def _histories(seed: int, posts: int = 60) -> list[dict]:
    """Random snapshots; a post's ``posted_at`` (on its every snapshot) is unknown, hours or
    weeks before its first snapshot, or after it."""
    rng = random.Random(seed)
    base = datetime(2025, 1, 20, tzinfo=UTC)
    snaps = []
    for p in range(posts):
        t = base + timedelta(days=rng.uniform(0, 50))
        posted = rng.choice(
            [None, t - timedelta(hours=rng.uniform(0.5, 20)), t - timedelta(days=rng.uniform(1, 40))]
        )
        posted = t + timedelta(hours=1) if rng.random() < 0.05 else posted
        rounded = p % 5 == 1  # a platform showing 1.4M: rounded counts, often flat
        counts = {k: rng.randint(0, 50) for k in ("like_count", "comment_count", "share_count", "view_count")}
        if rounded:
            counts = {k: rng.choice([14_000, 1_400_000]) for k in counts}
        for _ in range(rng.randint(1, 12)):
            roll = rng.random()
            if roll < 0.1:
                t = t.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)  # exact midnight
            elif roll < 0.15:
                t += timedelta(days=GAP_DAYS + rng.uniform(0.1, 5))  # too long to spread
            else:
                t += timedelta(hours=rng.choice([0.5, 3, 11, 25, 70, 170]))
            for k in counts:
                counts[k] += rng.choice([0, 0, 100, 1000]) if rounded else rng.randint(0, 40)
            snap = {"post_id": f"p-{p:04d}", "downloaded_at": t, "posted_at": posted, **counts}
            for k in list(counts):
                if rng.random() < 0.12:
                    snap[k] = None  # a count the scraper did not return this time
            if p % 7 == 0:
                snap["total_reactions"] = None if rng.random() < 0.3 else counts["like_count"] + 3
            snaps.append(snap)
    return snaps


def _table(snaps: list[dict]) -> pa.Table:
    rows = sorted(snaps, key=lambda s: (s["post_id"], s["downloaded_at"]))
    return pa.table(
        {
            "post_id": [s["post_id"] for s in rows],
            "ts": [s["downloaded_at"].timestamp() for s in rows],
            "reactions": pa.array([reactions_of(s) for s in rows], pa.int64()),
            "likes": pa.array([s.get("like_count") for s in rows], pa.int64()),
            "comments": pa.array([s.get("comment_count") for s in rows], pa.int64()),
            "shares": pa.array([s.get("share_count") for s in rows], pa.int64()),
            "views": pa.array([s.get("view_count") for s in rows], pa.int64()),
            "saves": pa.array([s.get("save_count") for s in rows], pa.int64()),
            "engagement": pa.array([engagement_of(s) for s in rows], pa.int64()),
            "posted": pa.array(
                [p.timestamp() if (p := s.get("posted_at")) else None for s in rows], pa.float64()
            ),
        }
    )


def _posted(snaps) -> dict:
    return {s["post_id"]: s["posted_at"] for s in snaps if s.get("posted_at")}


def _looks_rounded(v) -> bool:
    return v is not None and v >= 1000 and v % 100 == 0 and len(str(v).rstrip("0")) <= 3


def _days() -> DayRange:
    return DayRange(
        start_dn=(START - EPOCH).days, end_dn=(END - EPOCH).days, gap_days=GAP_DAYS, settled_fraction=0.1
    )


def _by_key(t: pa.Table) -> dict:
    return {(r["post_id"], EPOCH + timedelta(days=r["dn"])): r for r in t.to_pylist()}


def _settled_reference(snaps, start: date, end: date) -> dict:
    """is_settled per post-day, written from the definition: the rate of the last pair started
    before the day's end, against the highest rate of the pairs started in the 31 days ending
    with the day; undecided when that pair stayed flat at a rounded part of the engagement."""
    out = {}
    for post, ss in with_zero_rows(snaps, _posted(snaps), start, GAP_DAYS).items():
        pairs = []
        for x, y in pairwise(ss):
            hours = (y["downloaded_at"] - x["downloaded_at"]).total_seconds() / 3600
            a, b = engagement_of(x), engagement_of(y)
            if hours <= GAP_DAYS * 24 and a is not None and b is not None:
                parts = [
                    (reactions_of(x), reactions_of(y)),
                    (x.get("comment_count"), y.get("comment_count")),
                    (x.get("share_count"), y.get("share_count")),
                    (x.get("save_count"), y.get("save_count")),
                ]
                hidden = any(_looks_rounded(v1) and v0 == v1 for v0, v1 in parts)
                pairs.append((x["downloaded_at"], (b - a) / hours, hidden))
        d = start
        while d < end:
            day_end = datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)
            started = [(r, hidden) for t0, r, hidden in pairs if t0 < day_end]
            window = [r for t0, r, _ in pairs if t0 < day_end and t0.date() > d - timedelta(days=GAP_DAYS)]
            peak = max(window) if window else None
            if started and peak is not None and peak > 0 and not started[-1][1]:
                out[(post, d)] = started[-1][0] < 0.1 * peak
            else:
                out[(post, d)] = None
            d += timedelta(days=1)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_post_days_match_pure_python(seed):
    snaps = _histories(seed)
    got = _by_key(post_days(_table(snaps), _days()))
    ref = reference(snaps, START, END, max_gap_days=GAP_DAYS, posted=_posted(snaps))
    assert set(got) == set(ref)
    settled = _settled_reference(snaps, START, END)
    histories = with_zero_rows(snaps, _posted(snaps), START, GAP_DAYS)
    assert sum(ss[0].get(ZERO, False) for ss in histories.values()) >= 5  # the rule was exercised
    for key, exp in ref.items():
        row = got[key]
        assert approx_equal(row["engagement_new"], exp["engagement_new"]), (key, row, exp)
        assert approx_equal(row["likes_new"], exp["likes_new"]), (key, row, exp)
        assert approx_equal(row["views_new"], exp["views_new"]), (key, row, exp)
        assert row["is_estimated"] == exp["is_estimated"], key
        assert row["snapshots"] == exp["snapshots"], key
        assert row["likes"] == exp["likes_total"] and row["views"] == exp["views_total"], key
        assert row["is_settled"] == settled[key], (key, row["is_settled"], settled[key])
        last = [s for s in histories[key[0]] if s["downloaded_at"].date() <= key[1] and not s.get(ZERO)]
        shown = (
            [
                reactions_of(last[-1]),
                *(
                    last[-1].get(k)
                    for k in ("like_count", "comment_count", "share_count", "view_count", "save_count")
                ),
            ]
            if last
            else []
        )
        assert row["is_rounded"] == any(_looks_rounded(v) for v in shown), key
    assert any(r["is_settled"] is None for r in got.values()) and any(r["is_settled"] for r in got.values())
    assert any(r["is_rounded"] for r in got.values()) and not all(r["is_rounded"] for r in got.values())
    assert any(r["engagement_new"] is None for r in got.values())  # NULL counts reached the rows


def test_rows_come_by_day_then_post():
    out = post_days(_table(_histories(4)), _days())
    keys = list(zip(out["dn"].to_pylist(), out["post_id"].to_pylist(), strict=True))
    assert keys == sorted(keys) and len(keys) > 100


@pytest.mark.parametrize("rows_per_chunk,threads", [(1, 1), (17, 2), (100, 3), (10**9, 2)])
def test_chunks_and_threads_do_not_change_thestored_rows(rows_per_chunk, threads):
    table = _table(_histories(5, posts=80))
    whole = _by_key(post_days(table, _days()))
    parts = list(
        post_days_in_chunks(
            table.to_batches(max_chunksize=13), _days(), threads=threads, rows_per_chunk=rows_per_chunk
        )
    )
    chunked = {}
    for part in parts:
        chunked.update(_by_key(part))
    assert sum(p.num_rows for p in parts) == len(chunked) == len(whole)
    assert chunked == whole


def testwindow_max_equals_brute_force():
    rng = np.random.default_rng(7)
    values = rng.normal(size=500)
    values[rng.random(500) < 0.2] = -np.inf
    lo = rng.integers(0, 500, size=2000)
    hi = np.minimum(lo + rng.integers(0, 31, size=2000), 499)
    got = window_max(values, lo, hi, 31)
    assert np.array_equal(got, np.array([values[a : b + 1].max() for a, b in zip(lo, hi, strict=True)]))


def test_empty_input_and_a_range_without_snapshots():
    days = _days()
    assert post_days(_table([]).slice(0, 0), days).num_rows == 0
    late = DayRange(
        start_dn=days.start_dn + 400, end_dn=days.end_dn + 400, gap_days=GAP_DAYS, settled_fraction=0.1
    )
    assert post_days(_table(_histories(6)), late).num_rows == 0


def test_rollup_input_with_dimensions_that_are_all_null():
    """No post has an account or a workspace: DuckDB must still group the rows (an empty
    dictionary array crashes DuckDB 1.4.4, so such columns stay plain)."""
    part = post_days(_table(_histories(8, posts=10)), _days())
    ids = sorted(set(part["post_id"].to_pylist()))
    dims = pa.table(
        {
            "post_id": ids,
            "platform": ["x"] * len(ids),
            "author_profile_id": ["prf-1"] * len(ids),
            "account_id": pa.nulls(len(ids), pa.string()),
            "workspace_id": pa.nulls(len(ids), pa.string()),
            "posted_dn": pa.array([days + 19_000 for days in range(len(ids))], pa.int64()),
            "followers": pa.nulls(len(ids), pa.int64()),
        }
    )
    rows = post_rollup_input([part], dims, _days().start_dn, _days().end_dn)  # noqa: F841 (read by DuckDB)
    got = (
        duckdb.connect()
        .execute("SELECT count(*), count(account_id), count(DISTINCT workspace_id) FROM rows")
        .fetchone()
    )
    assert got == (rows.num_rows, 0, 0) and rows.num_rows >= part.num_rows


def test_peak_rate_counts_the_pairs_of_the_31_days_ending_with_the_day():
    """A burst on day 0 (1,000 per hour), then +1 a day: settled while the burst's pair started
    within the 31 days ending with the day, not once it started 31 days before."""
    day0 = datetime(2025, 1, 1, tzinfo=UTC)
    snaps = [
        {"post_id": "p", "downloaded_at": day0, "like_count": 0},
        {"post_id": "p", "downloaded_at": day0 + timedelta(hours=1), "like_count": 1000},
    ]
    snaps += [
        {"post_id": "p", "downloaded_at": day0 + timedelta(days=i, hours=12), "like_count": 1000 + i}
        for i in range(45)
    ]
    first = (day0.date() - EPOCH).days
    days = DayRange(start_dn=first + 28, end_dn=first + 34, gap_days=GAP_DAYS, settled_fraction=0.1)
    settled = {r["dn"] - first: r["is_settled"] for r in post_days(_table(snaps), days).to_pylist()}
    assert settled == {28: True, 29: True, 30: True, 31: False, 32: False, 33: False}
