"""Daily metrics: per UTC day per post, rolled up per profile, account, workspace, tag, platform.

Definitions (docs/analytics.md repeats them):

* **Engagement** of a snapshot = reactions + comments + shares + saves, where reactions is
  ``total_reactions`` or else ``like_count`` (NULL parts count as 0; NULL if all are NULL).
* **New engagement on day D** is attributed to the day it happened by differencing
  consecutive snapshots of a post: the difference between snapshots at t0 < t1 is spread
  linearly by time over [t0, t1], and day D gets the share of that interval that falls inside
  D (UTC). Several snapshots on one day simply add up; a gap of several days is spread over
  those days. A day whose number used a pair of snapshots that crosses a UTC midnight (i.e.
  was spread) has ``is_estimated = true``. Engagement before the first snapshot: when the
  post's ``posted_at`` is known and its first snapshot came at most ``BACKFILL_MAX_DAYS`` (30)
  days after it, the post had zero engagement at ``posted_at`` and the first snapshot's counts
  are spread over [posted_at, first snapshot] like any pair (estimated), so a post's daily sums
  add up to its totals. A post first seen later keeps its first snapshot as the baseline: the
  engagement before it is in the totals but never in ``*_new``. Snapshots captured before
  ``posted_at`` (``captured_before_post``) are left out. A pair with a NULL on either side
  contributes nothing for that measure. Gaps longer than ``max_gap_days`` (default 31) are not
  spread (treated as a new baseline), which keeps every day computable from a bounded scan.
* **Totals** (``*_total``) are the values of the post's last snapshot at or before the end of
  the day, for posts tracked that day; rollups sum them.
* **Tracked on D**: the post has a snapshot on D or a pair of consecutive snapshots spanning D.
* **Engagement rate** = new engagement / new views when the post gained views that day; else
  new engagement / the author's follower count (profiles.follower_count, current value); else
  NULL. Rollups: Σ engagement_new / Σ views_new over the posts that gained views; when none did,
  Σ engagement_new / Σ follower count of the tracked posts (the average per-post follower rate).
* **Settled**: growth rate (engagement per hour of the last snapshot pair started before the end
  of D) below 10 % of the post's peak growth rate (max over the pairs started on D and the
  ``max_gap_days - 1`` days before it). NULL while there is no pair or the peak is not > 0, and
  when a part of the engagement stayed flat over that pair at a count that looks rounded.
* **Rounded** (``is_rounded``): a total of the row looks rounded for display by the platform
  (at least 1,000 with at most three significant digits and two trailing zeros: 1.4M, 14.5K),
  so a flat total there does not mean no growth. Rollups: any of their posts.
* **Posts published** counts posts whose ``posted_at`` falls on D (UTC); **actions** come from
  ``action_attempts`` (``success`` -> completed, ``failed`` -> failed) by ``attempted_at``.

Computation: one DuckDB scan of the ``data_downloads`` rows in [start - gap, end + gap) (the
date filter pushed into the PostgreSQL scan, only the needed columns; for ranges of at most
``NARROW_MAX_DAYS`` days only the posts with a snapshot in [start, end + gap), the only ones that
can be tracked in the range), sorted by post and time and streamed as Arrow batches into
:mod:`postpulse.analytics.post_days` (numpy, chunks of whole posts in parallel threads): each
snapshot becomes a segment to the post's next snapshot, segments are cut into the UTC days they
overlap, and consecutive runs of (post, day) give the spread differences, the snapshots per day,
the end-of-day totals and ``settled``. :mod:`postpulse.analytics.daily_rows` joins the posts'
dimensions and builds the post rows in Arrow; DuckDB sums the rollups. The rows stay in the
session (``Analytics.results``) until they are stored. Up to ``DAYS_PER_PART`` days are computed
in one pass (a 30-day backfill is one run and one pass); longer ranges in parts of that size.

Storage: :mod:`postpulse.analytics.daily_store` (one table per UTC day, loaded in parallel and
swapped in at once under an advisory lock): re-materializing a day is idempotent, concurrent
writers wait for each other, and a failure leaves the previous rows.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from postpulse.analytics.daily_rows import COLUMNS, DailyRows, post_level, post_rollup_input, tags_by_dim_row
from postpulse.analytics.daily_store import DailyWriter
from postpulse.analytics.duck import Analytics
from postpulse.analytics.errors import AnalyticsError
from postpulse.analytics.post_days import MEASURES, TOTALS, DayRange, post_days_in_chunks

DEFAULT_MAX_GAP_DAYS = 31
SETTLED_FRACTION = 0.10
# Ranges of at most this many days keep only the posts with a snapshot in [start, end + gap):
# every post tracked in the range has one (a snapshot that day, or the far end of a pair spanning
# it), so the rows are the same; the others' history is neither sorted nor computed. Measured at
# 10 M snapshots for one day: 1.9 M of 6.1 M rows qualify. For long ranges nearly every post
# qualifies and the filter would be wasted.
NARROW_MAX_DAYS = 7
# A longer range is computed in parts of this many days (memory: the rows of one part; a 30-day
# part at 10 M snapshots peaks at 3.6 GB), each part re-reading its gap-wide margins.
DAYS_PER_PART = 31
SNAPSHOT_BATCH = 1 << 20  # rows per Arrow batch read from DuckDB
DAILY_ROWS = "daily_rows"  # the key of the last computed DailyRows in Analytics.results

_ENG = """CASE WHEN coalesce(total_reactions, like_count, comment_count, share_count, save_count) IS NULL
           THEN NULL
  ELSE coalesce(total_reactions, like_count, 0) + coalesce(comment_count, 0) + coalesce(share_count, 0)
       + coalesce(save_count, 0) END"""

# The snapshots the post-day rows are computed from (postpulse.analytics.post_days), sorted by
# post and time; the date filter is pushed into the PostgreSQL scan, only the needed columns.
# ``posted``: the posted_at of the posts published in the same window (the only ones whose zero
# row at posted_at can matter, see post_days; a small build side for the join). Snapshots
# captured before the post was published are left out.
_SNAPSHOT_ROWS = f"""
SELECT post_id, epoch(downloaded_at) AS ts,
       coalesce(total_reactions, like_count) AS reactions, like_count AS likes,
       comment_count AS comments, share_count AS shares, view_count AS views, save_count AS saves,
       {_ENG} AS engagement, epoch(p.posted_at) AS posted
FROM pg.public.data_downloads d
LEFT JOIN (SELECT id, posted_at FROM pg.public.posts WHERE posted_at >= $lo AND posted_at < $hi) p
  ON p.id = d.post_id
WHERE downloaded_at >= $lo AND downloaded_at < $hi AND NOT captured_before_post
  AND (p.posted_at IS NULL OR downloaded_at >= p.posted_at)"""
SNAPSHOTS = f"{_SNAPSHOT_ROWS}\nORDER BY post_id, ts"
# Short ranges: only the posts with a snapshot in [start, hi), the rows scanned once (a
# materialized CTE; a second scan for the post ids cost 0.3 s more at 10 M snapshots).
SNAPSHOTS_OF_POSTS_SEEN = f"""
WITH w AS MATERIALIZED ({_SNAPSHOT_ROWS})
SELECT * FROM w WHERE post_id IN (SELECT post_id FROM w WHERE ts >= $start_s)
ORDER BY post_id, ts"""

# The posts' dimensions, for the post rows and the rollups (fetched as Arrow).
DIMS = """
SELECT p.id AS post_id, p.platform, p.author_profile_id,
       coalesce(p.account_id, pr.account_id) AS account_id, a.workspace_id,
       CAST(floor(epoch(p.posted_at) / 86400) AS BIGINT) AS posted_dn,
       pr.follower_count AS followers
FROM pg.public.posts p
LEFT JOIN pg.public.profiles pr ON pr.id = p.author_profile_id
LEFT JOIN pg.public.accounts a ON a.id = coalesce(p.account_id, pr.account_id)
"""

TAGS = "SELECT post_id, tag_id FROM pg.public.post_tags"
# Every statement here is constant SQL; values are bound as $parameters. The rollups read dm_post
# (postpulse.analytics.daily_rows.post_rollup_input) and dm_tags, Arrow tables of the session.
ACTIONS = """
CREATE OR REPLACE TEMP TABLE dm_actions AS
SELECT a.account_id, acc.workspace_id, acc.platform,
       CAST(floor(epoch(a.attempted_at) / 86400) AS BIGINT) AS dn,
       count(*) FILTER (WHERE a.status = 'success') AS actions_completed,
       count(*) FILTER (WHERE a.status = 'failed') AS actions_failed
FROM pg.public.action_attempts a
LEFT JOIN pg.public.accounts acc ON acc.id = a.account_id
WHERE a.attempted_at >= $start AND a.attempted_at < $end
GROUP BY ALL
"""

# The rollups are sums over the post rows, so the post rows are first summed per day and
# combination of profile, account, workspace and platform (a few groups per profile and day) or
# per day and tag, with the parts of the engagement rate kept apart; the rollups sum those sums.
_TOTALS = [f"{m}_total" for m in TOTALS]
_NEWS = [f"{m}_new" for m in MEASURES]
_COUNTS = ["posts_published", "posts_tracked", "posts_settled", "snapshots"]
_COMBINED = (
    ", ".join(f"sum({c}) AS {c}" for c in _TOTALS + _NEWS + _COUNTS)
    + """,
  sum(engagement_new) FILTER (WHERE views_new > 0) AS engagement_of_viewed,
  sum(views_new) FILTER (WHERE views_new > 0) AS views_of_viewed,
  sum(engagement_new) FILTER (WHERE posts_tracked = 1 AND followers > 0) AS engagement_of_followed,
  sum(followers) FILTER (WHERE posts_tracked = 1 AND followers > 0) AS followers_of_followed,
  bool_or(is_estimated) AS is_estimated, bool_or(is_rounded) AS is_rounded"""
)
_FROM_COMBINED = ", ".join(
    [f"CAST(sum({c}) AS BIGINT) AS {c}" for c in _TOTALS]
    + [f"sum({c}) AS {c}" for c in _NEWS]
    + [
        """CASE WHEN sum(views_of_viewed) > 0 THEN sum(engagement_of_viewed) / sum(views_of_viewed)
       WHEN sum(followers_of_followed) > 0 THEN sum(engagement_of_followed) / sum(followers_of_followed)
  END AS engagement_rate"""
    ]
    + [f"CAST(sum({c}) AS INTEGER) AS {c}" for c in _COUNTS]
    + ["bool_or(is_estimated) AS is_estimated", "bool_or(is_rounded) AS is_rounded"]
)

ROLLUPS = f"""
WITH combined AS (
  SELECT dn, author_profile_id, account_id, workspace_id, platform, {_COMBINED}
  FROM dm_post GROUP BY ALL
), combined_tags AS (
  SELECT dn, pt.tag_id, {_COMBINED}
  FROM dm_post JOIN dm_tags pt ON pt.dim_row = dm_post.dim_row GROUP BY ALL
), grouped AS (
  SELECT dn, 'profile' AS grain, author_profile_id AS entity_id, any_value(platform) AS platform,
      {_FROM_COMBINED}
  FROM combined WHERE author_profile_id IS NOT NULL GROUP BY dn, author_profile_id
  UNION ALL
  SELECT dn, 'account', account_id, any_value(platform), {_FROM_COMBINED}
  FROM combined WHERE account_id IS NOT NULL GROUP BY dn, account_id
  UNION ALL
  SELECT dn, 'workspace', workspace_id, NULL, {_FROM_COMBINED}
  FROM combined WHERE workspace_id IS NOT NULL GROUP BY dn, workspace_id
  UNION ALL
  SELECT dn, 'platform', platform, any_value(platform), {_FROM_COMBINED}
  FROM combined GROUP BY dn, platform
  UNION ALL
  SELECT dn, 'tag', tag_id, NULL, {_FROM_COMBINED}
  FROM combined_tags GROUP BY dn, tag_id
), acct_actions AS (
  SELECT dn, 'account' AS grain, account_id AS entity_id, any_value(platform) AS platform,
         sum(actions_completed) AS actions_completed, sum(actions_failed) AS actions_failed
  FROM dm_actions GROUP BY dn, account_id
  UNION ALL
  SELECT dn, 'workspace', workspace_id, NULL, sum(actions_completed), sum(actions_failed)
  FROM dm_actions WHERE workspace_id IS NOT NULL GROUP BY dn, workspace_id
), rollups AS (
  SELECT DATE '1970-01-01' + CAST(coalesce(g.dn, a.dn) AS INTEGER) AS metric_date,
         coalesce(g.grain, a.grain) AS grain, coalesce(g.entity_id, a.entity_id) AS entity_id,
         coalesce(g.platform, a.platform) AS platform,
         g.reactions_total, g.likes_total, g.comments_total, g.shares_total, g.views_total, g.saves_total,
         g.reactions_new, g.likes_new, g.comments_new, g.shares_new, g.views_new, g.saves_new,
         g.engagement_new, g.engagement_rate,
         coalesce(g.posts_published, 0) AS posts_published, coalesce(g.posts_tracked, 0) AS posts_tracked,
         coalesce(g.posts_settled, 0) AS posts_settled, coalesce(g.snapshots, 0) AS snapshots,
         coalesce(g.is_estimated, false) AS is_estimated, NULL::BOOLEAN AS is_settled,
         CAST(coalesce(a.actions_completed, 0) AS INTEGER) AS actions_completed,
         CAST(coalesce(a.actions_failed, 0) AS INTEGER) AS actions_failed,
         coalesce(g.is_rounded, false) AS is_rounded
  FROM grouped g
  FULL OUTER JOIN acct_actions a ON g.dn = a.dn AND g.grain = a.grain AND g.entity_id = a.entity_id
)
SELECT {", ".join(COLUMNS)} FROM rollups ORDER BY metric_date, grain, entity_id
"""


@dataclass
class DailyResult:
    start: date
    end: date  # exclusive
    rows: int = 0
    rows_by_grain: dict[str, int] = field(default_factory=dict)
    snapshots_read: int = 0  # distinct snapshots read: the range's and its margins'
    snapshot_rows_scanned: int = 0  # rows scanned: each part of a long range re-reads its margins
    deleted: int = 0  # rows of the replaced days (the old day tables)
    timings: dict[str, float] = field(default_factory=dict)
    write_steps: dict[str, float] = field(default_factory=dict)  # load, key, swap: parts of timings["write"]

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _dn(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _check_range(start: date, end: date, max_gap_days: int) -> None:
    if end <= start:
        raise AnalyticsError(
            f"empty date range {start} .. {end}", fix="give an end date after the start date"
        )
    if not 1 <= int(max_gap_days) <= 366:
        raise AnalyticsError(f"max_gap_days must be between 1 and 366, got {max_gap_days}")


def compute_daily(
    a: Analytics,
    start: date,
    end: date,
    *,
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS,
    timings: dict[str, float] | None = None,
    counts: dict[str, int] | None = None,
) -> int:
    """Compute the daily_metrics rows of the UTC days [start, end) and keep them in the session
    (``a.results[DAILY_ROWS]``, to be stored by ``daily_store``; DuckDB shows them as ``dm_final``);
    returns their count. ``counts``: ``snapshots``, the snapshot rows read, of which ``before``
    captured before ``start`` (the margin that lets gaps be spread), ``inside`` in [start, end)
    and ``after`` at or after ``end``."""
    _check_range(start, end, max_gap_days)
    gap = timedelta(days=int(max_gap_days))
    params = {
        "lo": _utc(start) - gap,
        "hi": _utc(end) + gap,
        "start": _utc(start),
        "end": _utc(end),
        "start_s": _utc(start).timestamp(),
    }
    timings = timings if timings is not None else {}
    narrow = (end - start).days <= NARROW_MAX_DAYS

    def run(stmt: str):
        names = set(re.findall(r"\$([a-z_]+)", stmt))
        return a.con.execute(stmt, {k: v for k, v in params.items() if k in names} or None)

    t0 = time.perf_counter()
    day_range = DayRange(
        start_dn=_dn(start), end_dn=_dn(end), gap_days=int(max_gap_days), settled_fraction=SETTLED_FRACTION
    )
    scanned = {"snapshots": 0, "before": 0, "inside": 0}
    start_s, end_s = _utc(start).timestamp(), _utc(end).timestamp()

    def counted(batches):
        for batch in batches:
            ts = batch.column("ts").to_numpy(zero_copy_only=False)
            scanned["snapshots"] += batch.num_rows
            scanned["before"] += int((ts < start_s).sum())
            scanned["inside"] += int(((ts >= start_s) & (ts < end_s)).sum())
            yield batch

    threads = int(a.con.execute("SELECT current_setting('threads')").fetchone()[0])
    reader = run(SNAPSHOTS_OF_POSTS_SEEN if narrow else SNAPSHOTS).fetch_record_batch(SNAPSHOT_BATCH)
    parts = list(post_days_in_chunks(counted(reader), day_range, threads=threads))
    timings["post_days"] = time.perf_counter() - t0
    if counts is not None:
        counts.update(scanned, after=scanned["snapshots"] - scanned["before"] - scanned["inside"])

    t0 = time.perf_counter()
    dims = run(DIMS).fetch_arrow_table()
    rollup_input = post_rollup_input(parts, dims, _dn(start), _dn(end))
    del parts
    a.con.register("dm_post", rollup_input)
    a.con.register("dm_tags", tags_by_dim_row(run(TAGS).fetch_arrow_table(), dims))
    timings["post_rows"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    run(ACTIONS)
    rows = DailyRows(
        start=start, end=end, posts=post_level(rollup_input), rollups=run(ROLLUPS).fetch_arrow_table()
    )
    a.con.unregister("dm_post")
    a.con.unregister("dm_tags")
    a.results[DAILY_ROWS] = rows
    a.con.register("dm_final", rows.table())  # to look at the rows in this session
    timings["rollups"] = time.perf_counter() - t0
    return rows.rows


def _parts(start: date, end: date, days: int) -> list[tuple[date, date]]:
    return [
        (start + timedelta(days=i), min(end, start + timedelta(days=i + days)))
        for i in range(0, (end - start).days, days)
    ]


def materialize_daily(
    a: Analytics,
    store_url: str,
    start: date,
    end: date,
    *,
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS,
    days_per_part: int = DAYS_PER_PART,
) -> DailyResult:
    """Compute and store daily_metrics for the UTC days [start, end). Idempotent.

    A range longer than ``days_per_part`` days is computed in parts of that many days, each
    loaded before the next is computed (memory stays that of one part), and all its days are
    swapped in at once: the whole range is replaced or, on a failure, none of it."""
    _check_range(start, end, max_gap_days)
    res = DailyResult(start=start, end=end)
    by_grain: dict[str, int] = {}
    parts = _parts(start, end, days_per_part)
    with DailyWriter(store_url, start, end) as writer:
        for i, (part_start, part_end) in enumerate(parts):
            counts: dict[str, int] = {}
            timings: dict[str, float] = {}
            res.rows += compute_daily(
                a, part_start, part_end, max_gap_days=max_gap_days, timings=timings, counts=counts
            )
            res.snapshot_rows_scanned += counts["snapshots"]
            # every snapshot read once: the parts' own days, the first part's lower margin and the
            # last part's upper margin (the parts re-read each other's days as margins)
            res.snapshots_read += (
                counts["inside"]
                + (counts["before"] if i == 0 else 0)
                + (counts["after"] if i == len(parts) - 1 else 0)
            )
            rows = a.results[DAILY_ROWS]
            t0 = time.perf_counter()
            writer.load(rows)
            timings["write"] = time.perf_counter() - t0
            for name, seconds in timings.items():
                res.timings[name] = res.timings.get(name, 0.0) + seconds
            for grain, n in rows.rows_by_grain().items():
                by_grain[grain] = by_grain.get(grain, 0) + n
        t0 = time.perf_counter()
        writer.swap()
        res.timings["write"] = res.timings.get("write", 0.0) + time.perf_counter() - t0
    res.deleted = writer.replaced
    res.write_steps = dict(writer.timings)
    res.rows_by_grain = dict(sorted(by_grain.items()))
    return res
