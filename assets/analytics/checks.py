"""Data-quality checks on the snapshot time series and the scrape runs (anchored on post_metrics,
the analytics view of data_downloads). Logic in ``postpulse.analytics.checks``."""

import dagster as dg

from assets.analytics.post_metrics import post_metrics
from postpulse.analytics import checks
from resources.duckdb import DuckDBAnalytics

SEVERITY = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


def _result(outcome: checks.CheckOutcome) -> dg.AssetCheckResult:
    metadata = {k: v for k, v in outcome.metadata.items() if v is not None}
    metadata["summary"] = outcome.description
    if outcome.sample is not None:
        metadata["sample"] = dg.MetadataValue.md(outcome.sample_md())
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=SEVERITY[outcome.severity],
        description=outcome.description,
        metadata=metadata,
    )


def _check(name: str, description: str, blocking: bool = False):
    fn = checks.ALL_CHECKS[name]

    @dg.asset_check(asset=post_metrics, name=name, description=description, blocking=blocking)
    def _c(duckdb: DuckDBAnalytics) -> dg.AssetCheckResult:
        with duckdb.session() as a:
            return _result(fn(a))

    return _c


analytics_checks = [
    _check("no_negative_counts", "ERROR: no snapshot has a negative count."),
    _check(
        "no_duplicate_snapshots", "ERROR: no post has two snapshots less than 60 s apart or two in one run."
    ),
    _check(
        "overdue_checkbacks",
        "WARN: posts still tracked whose next check-back is over 1 h late; warns "
        "above max(10, 5% of tracked posts).",
    ),
    _check(
        "implausible_drops",
        "WARN: a cumulative count (reactions, comments, shares, views) falling by "
        "more than 20% (and at least 5) between consecutive snapshots.",
    ),
    _check(
        "scraper_rejected_share",
        "WARN: share of rejected records per source/format over the last 20 "
        "runs above 5%; ERROR above 50% (the source's output no longer parses).",
    ),
    _check(
        "scraper_lost_fields",
        "WARN: the latest run of a platform/source/format leaves a count NULL "
        "(<= 20% filled) that its previous 5 runs filled for >= 80% of posts: a changed platform or scraper.",
    ),
    _check(
        "snapshots_before_posting",
        "WARN: snapshots captured before their post's posted_at (a source's clock or time zone is off); "
        "kept, but left out of the daily attribution, growth curves and time-to-engagement.",
    ),
]
