"""Data-quality checks over the snapshot store and the scrape runs (plain Python).

Each returns a :class:`CheckOutcome`; ``assets/analytics/checks.py`` turns them into Dagster
asset check results. Severity: broken invariants (negative counts, duplicate snapshots) are
ERROR; things a person should look at (overdue check-backs, implausible drops, scraper health)
are WARN, except a source that rejects more than half of its records (ERROR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from postpulse.analytics.duck import Analytics
from postpulse.analytics.report_format import markdown_table

COUNT_COLUMNS = (
    "total_reactions",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
    "save_count",
    "impression_count",
    "reach_count",
    "click_count",
    "quote_count",
)
# one filled-share column per count column, for the fill-rate check's query
FILL_SHARES = ", ".join(
    f"avg(CASE WHEN d.{c} IS NOT NULL THEN 1.0 ELSE 0.0 END) AS {c}" for c in COUNT_COLUMNS
)


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    severity: str  # "ERROR" or "WARN": what a failure means
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    sample: pd.DataFrame | None = None

    def sample_md(self, rows: int = 10) -> str:
        return markdown_table(self.sample, max_rows=rows) if self.sample is not None else ""


def no_negative_counts(a: Analytics) -> CheckOutcome:
    cond = " OR ".join(f"{c} < 0" for c in COUNT_COLUMNS)  # constant column names
    df = a.sql(
        f"SELECT id, post_id, downloaded_at, {', '.join(COUNT_COLUMNS)} FROM data_downloads WHERE {cond} "
        "ORDER BY downloaded_at LIMIT 20"
    )
    n = int(a.sql(f"SELECT count(*) AS n FROM data_downloads WHERE {cond}")["n"][0])
    return CheckOutcome(
        "no_negative_counts",
        n == 0,
        "ERROR",
        f"{n} snapshot(s) with a negative count" if n else "no negative counts",
        {"negative_snapshots": n},
        df if n else None,
    )


def no_duplicate_snapshots(a: Analytics, window_seconds: int = 60) -> CheckOutcome:
    """Two snapshots of one post less than ``window_seconds`` apart, or twice in one run."""
    df = a.sql(
        """
        WITH s AS (
          SELECT post_id, run_id, downloaded_at,
                 lag(downloaded_at) OVER (PARTITION BY post_id ORDER BY downloaded_at) AS prev_at,
                 count(*) OVER (PARTITION BY post_id, run_id) AS in_run
          FROM data_downloads)
        SELECT post_id, run_id, prev_at, downloaded_at,
               (epoch(downloaded_at) - epoch(prev_at)) AS seconds_apart, in_run AS snapshots_in_same_run
        FROM s
        WHERE (prev_at IS NOT NULL AND (epoch(downloaded_at) - epoch(prev_at)) < $w) OR (run_id IS NOT NULL
            AND in_run > 1)
        ORDER BY post_id, downloaded_at""",
        {"w": window_seconds},
    )
    n = len(df)
    posts = int(df["post_id"].nunique()) if n else 0
    return CheckOutcome(
        "no_duplicate_snapshots",
        n == 0,
        "ERROR",
        f"{n} duplicate snapshot(s) on {posts} post(s) (< {window_seconds} s apart or twice in one run)"
        if n
        else "no duplicate snapshots",
        {"duplicates": n, "posts_affected": posts, "window_seconds": window_seconds},
        df.head(20) if n else None,
    )


def overdue_checkbacks(
    a: Analytics, grace_hours: float = 1.0, warn_share: float = 0.05, warn_min: int = 10
) -> CheckOutcome:
    """Posts still being tracked whose next check-back is more than ``grace_hours`` late."""
    row = a.sql(
        """
        SELECT count(*) FILTER (WHERE next_check_at < now() - to_microseconds(CAST($g * 3600e6 AS BIGINT)))
            AS overdue,
               count(*) AS tracked,
               max(epoch(now() - next_check_at) / 3600.0) FILTER (WHERE next_check_at < now())
                   AS worst_hours_late
        FROM posts WHERE NOT tracking_complete AND next_check_at IS NOT NULL""",
        {"g": grace_hours},
    ).iloc[0]
    overdue, tracked = int(row["overdue"]), int(row["tracked"])
    threshold = max(warn_min, int(warn_share * tracked))
    by_platform = a.sql(
        """
        SELECT platform, count(*) AS overdue, round(max(epoch(now() - next_check_at) / 3600.0), 1)
            AS worst_hours_late
        FROM posts WHERE NOT tracking_complete AND next_check_at < now()
            - to_microseconds(CAST($g * 3600e6 AS BIGINT))
        GROUP BY platform ORDER BY overdue DESC""",
        {"g": grace_hours},
    )
    worst = row["worst_hours_late"]
    return CheckOutcome(
        "overdue_checkbacks",
        overdue <= threshold,
        "WARN",
        f"{overdue} of {tracked} tracked post(s) overdue by more than {grace_hours:g} h (warn above "
        f"{threshold})",
        {
            "overdue": overdue,
            "tracked": tracked,
            "threshold": threshold,
            "worst_hours_late": None if pd.isna(worst) else round(float(worst), 1),
        },
        by_platform if overdue else None,
    )


def implausible_drops(a: Analytics, max_drop_share: float = 0.2, min_drop: int = 5) -> CheckOutcome:
    """A cumulative count falling by more than ``max_drop_share`` between consecutive snapshots."""
    df = a.sql(
        """
        WITH s AS (
          SELECT post_id, downloaded_at, m.metric, m.value,
                 lag(m.value) OVER (PARTITION BY post_id, m.metric ORDER BY downloaded_at) AS prev_value,
                 lag(downloaded_at) OVER (PARTITION BY post_id, m.metric ORDER BY downloaded_at) AS prev_at
          FROM snapshots,
               LATERAL (VALUES ('reactions', reactions), ('comments', comments), ('shares', shares), ('views',
                   views)) m(metric, value)
          WHERE m.value IS NOT NULL)
        SELECT post_id, metric, prev_at, prev_value, downloaded_at, value,
               round(100.0 * (prev_value - value) / prev_value, 1) AS drop_pct
        FROM s
        WHERE prev_value > 0 AND prev_value - value >= $min_drop AND (prev_value - value)
            > $share * prev_value
        ORDER BY drop_pct DESC, post_id""",
        {"share": max_drop_share, "min_drop": min_drop},
    )
    n = len(df)
    return CheckOutcome(
        "implausible_drops",
        n == 0,
        "WARN",
        f"{n} drop(s) of more than {max_drop_share:.0%} in a cumulative count between snapshots"
        if n
        else "no implausible drops",
        {
            "drops": n,
            "posts_affected": int(df["post_id"].nunique()) if n else 0,
            "max_drop_share": max_drop_share,
            "min_drop": min_drop,
        },
        df.head(20) if n else None,
    )


def scraper_rejected_share(
    a: Analytics, recent_runs: int = 20, warn_share: float = 0.05, error_share: float = 0.5
) -> CheckOutcome:
    """Share of rejected records per (source, format) over each group's most recent runs: WARN
    above ``warn_share``; ERROR above ``error_share`` (most of a source's output no longer parses:
    its data is effectively missing)."""
    df = a.sql(
        """
        WITH r AS (
          SELECT source_kind, coalesce(format, '?') AS format, posts_fetched, records_rejected,
                 row_number() OVER (PARTITION BY source_kind, coalesce(format, '?') ORDER BY started_at DESC)
                     AS k
          FROM download_runs WHERE status IN ('completed', 'failed'))
        SELECT source_kind, format, count(*) AS runs, sum(posts_fetched) AS records_ok,
               sum(records_rejected) AS records_rejected,
               round(sum(records_rejected) / nullif(sum(posts_fetched) + sum(records_rejected), 0), 4)
                   AS rejected_share
        FROM r WHERE k <= $n GROUP BY ALL ORDER BY rejected_share DESC NULLS LAST""",
        {"n": recent_runs},
    )
    share = df["rejected_share"].astype(float).fillna(0)
    bad = df[share > warn_share]
    severe = int((share > error_share).sum())
    return CheckOutcome(
        "scraper_rejected_share",
        bad.empty,
        "ERROR" if severe else "WARN",
        (
            f"{len(bad)} source/format group(s) reject more than {warn_share:.0%} of records"
            + (f" ({severe} more than {error_share:.0%})" if severe else "")
            + ": "
            + ", ".join(f"{r.source_kind}/{r.format} {r.rejected_share:.0%}" for r in bad.itertuples())
        )
        if not bad.empty
        else f"rejected records at most {warn_share:.0%} for every source/format",
        {
            "groups": len(df),
            "groups_over_threshold": len(bad),
            "groups_over_error_threshold": severe,
            "warn_share": warn_share,
            "error_share": error_share,
            "recent_runs": recent_runs,
        },
        df if not df.empty else None,
    )


def scraper_lost_fields(
    a: Analytics,
    previous_runs: int = 5,
    was_share: float = 0.8,
    now_share: float = 0.2,
    min_snapshots: int = 5,
) -> CheckOutcome:
    """The latest run of a (platform, source, format) leaves a count NULL that the previous runs
    of the same format filled for most posts: the sign of a changed platform or scraper."""
    df = a.sql(
        f"""
        WITH runs AS (
          SELECT r.id, coalesce(r.platform, '?') AS platform, r.source_kind, coalesce(r.format, '?')
              AS format,
                 r.started_at,
                 row_number() OVER (PARTITION BY coalesce(r.platform, '?'), r.source_kind,
                                                 coalesce(r.format, '?')
                                    ORDER BY r.started_at DESC) AS k
          FROM download_runs r WHERE r.status = 'completed'),
        fill AS (
          SELECT runs.id, runs.platform, runs.source_kind, runs.format, runs.k, count(*) AS n,
                 {FILL_SHARES}
          FROM runs JOIN data_downloads d ON d.run_id = runs.id
          WHERE runs.k <= $prev + 1
          GROUP BY ALL HAVING count(*) >= $min_n),
        long AS (
          UNPIVOT fill ON {", ".join(COUNT_COLUMNS)} INTO NAME field VALUE filled)
        SELECT l.platform, l.source_kind, l.format, l.field, l.id AS latest_run,
               round(l.filled, 3) AS latest_filled, round(avg(p.filled), 3) AS previous_filled, count(p.id)
                   AS previous_runs
        FROM long l JOIN long p ON p.platform = l.platform AND p.source_kind = l.source_kind
             AND p.format = l.format AND p.field = l.field AND p.k > 1
        WHERE l.k = 1
        GROUP BY ALL
        HAVING avg(p.filled) >= $was AND l.filled <= $now
        ORDER BY l.platform, l.format, l.field""",
        {"prev": previous_runs, "min_n": min_snapshots, "was": was_share, "now": now_share},
    )
    n = len(df)
    return CheckOutcome(
        "scraper_lost_fields",
        n == 0,
        "WARN",
        (
            "latest runs lost fields: "
            + ", ".join(f"{r.platform}/{r.format}: {r.field}" for r in df.itertuples())
        )
        if n
        else "no run lost fields compared with the previous runs of its format",
        {"lost_fields": n, "previous_runs": previous_runs, "was_share": was_share, "now_share": now_share},
        df if n else None,
    )


def snapshots_before_posting(a: Analytics) -> CheckOutcome:
    """Snapshots captured before their post's posted_at (a source's clock or time zone is off):
    kept, but left out of the daily attribution, growth curves and time-to-engagement."""
    df = a.sql(
        """
        SELECT s.post_id, d.platform, d.posted_at, s.downloaded_at, s.run_id
        FROM snapshots s JOIN post_dim d USING (post_id)
        WHERE s.captured_before_post OR s.downloaded_at < d.posted_at
        ORDER BY s.downloaded_at LIMIT 20"""
    )
    n = int(
        a.sql(
            "SELECT count(*) AS n FROM snapshots s JOIN post_dim d USING (post_id) "
            "WHERE s.captured_before_post OR s.downloaded_at < d.posted_at"
        )["n"][0]
    )
    return CheckOutcome(
        "snapshots_before_posting",
        n == 0,
        "WARN",
        f"{n} snapshot(s) captured before their post's posted_at (kept; left out of the daily "
        "attribution, growth curves and time-to-engagement)"
        if n
        else "no snapshot captured before its post was published",
        {"snapshots_before_posting": n},
        df if n else None,
    )


ALL_CHECKS = {
    "no_negative_counts": no_negative_counts,
    "no_duplicate_snapshots": no_duplicate_snapshots,
    "overdue_checkbacks": overdue_checkbacks,
    "implausible_drops": implausible_drops,
    "scraper_rejected_share": scraper_rejected_share,
    "scraper_lost_fields": scraper_lost_fields,
    "snapshots_before_posting": snapshots_before_posting,
}
