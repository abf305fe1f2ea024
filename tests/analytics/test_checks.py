"""Asset checks pass on good data and fail on planted bad data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from postpulse.analytics import checks, synthetic
from postpulse.store.urls import StoreUrls

from .conftest import utc


def _conn(db_url):
    return psycopg.connect(StoreUrls.from_base(db_url).libpq)


def test_all_checks_pass_on_good_data(duck, scenario):
    for name, fn in checks.ALL_CHECKS.items():
        out = fn(duck)
        assert out.passed, (name, out.description)


def test_duplicate_snapshots_fail_as_error(duck, db_url, scenario):
    a = scenario["posts"]["A"]
    synthetic.add_snapshots(
        db_url, [dict(post_id=a, downloaded_at=utc(2025, 1, 10, 11, 0, 10), like_count=10)]
    )
    out = checks.no_duplicate_snapshots(duck)
    assert not out.passed and out.severity == "ERROR" and out.metadata["duplicates"] == 1
    assert a in out.sample_md()


def test_negative_counts_fail_as_error(duck, db_url, scenario):
    with _conn(db_url) as conn:  # a store whose constraint was dropped (other server, manual load)
        name = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'data_downloads'::regclass "
            "AND pg_get_constraintdef(oid) LIKE '%comment_count >= 0%'"
        ).fetchone()[0]
        conn.execute(f'ALTER TABLE data_downloads DROP CONSTRAINT "{name}"')
    synthetic.add_snapshots(
        db_url, [dict(post_id=scenario["posts"]["C"], downloaded_at=utc(2025, 1, 12), comment_count=-3)]
    )
    out = checks.no_negative_counts(duck)
    assert not out.passed and out.severity == "ERROR" and out.metadata["negative_snapshots"] == 1


def test_implausible_drop_warns(duck, db_url, scenario):
    synthetic.add_snapshots(
        db_url,
        [
            dict(
                post_id=scenario["posts"]["A"],
                downloaded_at=utc(2025, 1, 15),
                like_count=40,
                comment_count=11,
                share_count=5,
                view_count=2150,
                save_count=4,
            )
        ],
    )
    out = checks.implausible_drops(duck)
    assert not out.passed and out.severity == "WARN" and out.metadata["drops"] == 1


def test_overdue_checkbacks_warn_above_threshold(duck, db_url, scenario):
    now = datetime.now(UTC)
    posts = synthetic.add_posts(
        db_url, [{"platform": "x", "posted_at": now - timedelta(days=2)} for _ in range(12)]
    )
    with _conn(db_url) as conn:
        conn.execute(
            "UPDATE posts SET next_check_at = %s WHERE id = ANY(%s)", (now - timedelta(hours=5), posts)
        )
    out = checks.overdue_checkbacks(duck)
    assert not out.passed and out.severity == "WARN" and out.metadata["overdue"] == 12
    with _conn(db_url) as conn:
        conn.execute(
            "UPDATE posts SET next_check_at = %s WHERE id = ANY(%s)", (now + timedelta(hours=1), posts[:5])
        )
    assert checks.overdue_checkbacks(duck).passed  # 7 <= 10


def _run(conn, i, *, fmt="apify_json", rejected=0, fetched=10, started=None):
    rid = f"run-0000{i:04x}"
    conn.execute(
        "INSERT INTO download_runs (id, started_at, status, source_kind, platform, format, posts_fetched, "
        "records_rejected) VALUES (%s, %s, 'completed', 'apify', 'instagram', %s, %s, %s)",
        (rid, started or utc(2025, 1, 1) + timedelta(days=i), fmt, fetched, rejected),
    )
    return rid


def test_scraper_rejected_share_warns(duck, db_url):
    with _conn(db_url) as conn:
        for i in range(3):
            _run(conn, i, rejected=0)
    assert checks.scraper_rejected_share(duck).passed
    with _conn(db_url) as conn:
        _run(conn, 9, rejected=5, fetched=10)
    out = checks.scraper_rejected_share(duck)
    assert not out.passed and out.severity == "WARN" and "apify/apify_json" in out.description
    with _conn(db_url) as conn:  # now most records of the source are rejected: an error
        _run(conn, 10, rejected=40, fetched=0)
    out = checks.scraper_rejected_share(duck)
    assert not out.passed and out.severity == "ERROR" and out.metadata["groups_over_error_threshold"] == 1


def test_scraper_lost_fields_warns(duck, db_url):
    posts = synthetic.add_posts(
        db_url, [{"platform": "instagram", "posted_at": utc(2025, 1, 1)} for _ in range(6)]
    )
    with _conn(db_url) as conn:
        runs = [_run(conn, i) for i in range(4)]
    snaps = []
    for k, run in enumerate(runs):
        for j, p in enumerate(posts):
            last = k == len(runs) - 1
            snaps.append(
                dict(
                    post_id=p,
                    run_id=run,
                    downloaded_at=utc(2025, 1, 2 + k, 0, j),
                    like_count=10 * k + j,
                    comment_count=k,
                    view_count=None if last else 100 * k + j,
                )
            )
    synthetic.add_snapshots(db_url, snaps)
    out = checks.scraper_lost_fields(duck)
    assert not out.passed and out.severity == "WARN"
    assert "view_count" in out.description and "like_count" not in out.description


def test_snapshots_before_posting_warn(duck, db_url, scenario):
    a = scenario["posts"]["A"]  # posted Jan 10 10:00
    synthetic.add_snapshots(db_url, [dict(post_id=a, downloaded_at=utc(2025, 1, 9, 22), like_count=4)])
    with _conn(db_url) as conn:
        conn.execute(
            "UPDATE data_downloads SET captured_before_post = true WHERE downloaded_at = %s",
            (utc(2025, 1, 9, 22),),
        )
    out = checks.snapshots_before_posting(duck)
    assert not out.passed and out.severity == "WARN" and out.metadata["snapshots_before_posting"] == 1
    assert a in out.sample_md()
