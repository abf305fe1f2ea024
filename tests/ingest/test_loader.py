"""The loader: runs, natural-key upserts, snapshots, capture time, dedup, re-imports, id collisions."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from postpulse import ids
from postpulse.ingest import merge
from postpulse.ingest.loader import import_file
from tests.ingest.helpers import (
    T0,
    T1,
    apify_name,
    count,
    natural_snapshot,
    scraper_items,
    store_snapshot,
    write_json,
    write_jsonl,
)


def test_import_creates_run_posts_snapshots_and_reimport_changes_nothing(engine, tmp_path):
    items = scraper_items("instagram")
    f = write_json(tmp_path / apify_name("instagram-scraper", T0), items)
    res = import_file(engine, f)
    assert res.status == "completed" and res.run_id.startswith("run-")
    assert res.posts_fetched == res.posts_new == res.snapshots_new == len(items)
    assert res.captured_at == T0 and res.captured_at_source == "filename"
    with engine.connect() as c:
        run = c.execute(text("SELECT * FROM download_runs")).mappings().one()
        assert run["status"] == "completed" and run["source_sha256"] == res.source_sha256
        assert run["source_bytes"] == f.stat().st_size and run["format"] == "apify_instagram_scraper"
        assert {"hostname", "user", "postpulse_version", "python"} <= set(run["system_info"])
        assert c.execute(text("SELECT count(DISTINCT downloaded_at) FROM data_downloads")).scalar() == 1
        assert c.execute(text("SELECT count(*) FROM profiles")).scalar() >= 2
        # the denormalized latest counts equal the snapshot
        bad = c.execute(
            text(
                "SELECT count(*) FROM posts p JOIN data_downloads d ON d.post_id = p.id "
                "WHERE p.like_count IS DISTINCT FROM d.like_count"
            )
        ).scalar()
        assert bad == 0
    before = store_snapshot(engine)
    again = import_file(engine, f)
    assert again.already_imported and again.run_id == res.run_id
    assert "already imported as " + res.run_id in again.message
    assert store_snapshot(engine) == before


def test_recapture_adds_snapshots_keeps_first_seen_and_updates_latest(engine, tmp_path):
    first = scraper_items("x", at=T0)
    later = scraper_items("x", at=T1)
    import_file(engine, write_json(tmp_path / apify_name("tweet-scraper", T0), first))
    r2 = import_file(engine, write_json(tmp_path / apify_name("tweet-scraper", T1), later))
    assert r2.posts_new == 0 and r2.posts_updated == len(later) and r2.snapshots_new == len(later)
    with engine.connect() as c:
        rows = c.execute(text("SELECT first_seen_at, last_extracted_at, like_count, id FROM posts")).all()
        assert all(r.first_seen_at == T0 and r.last_extracted_at == T1 for r in rows)
        for r in rows:
            latest = c.execute(
                text(
                    "SELECT like_count FROM data_downloads WHERE post_id = :p ORDER BY downloaded_at DESC "
                    "LIMIT 1"
                ),
                {"p": r.id},
            ).scalar()
            assert r.like_count == latest
    # an older capture imported afterwards fills history but never overwrites newer values
    older = scraper_items("x", at=T0 - timedelta(days=3))
    r3 = import_file(
        engine, write_json(tmp_path / apify_name("tweet-scraper", T0 - timedelta(days=3)), older)
    )
    assert r3.snapshots_new == len(older)
    with engine.connect() as c:
        rows = c.execute(text("SELECT first_seen_at, last_extracted_at FROM posts")).all()
        assert sum(r.first_seen_at == T0 - timedelta(days=3) for r in rows) == len(older) > 0
        assert all(r.last_extracted_at == T1 for r in rows)
        assert c.execute(text("SELECT count(*) FROM data_downloads")).scalar() == 2 * len(later) + len(older)


def test_unchanged_recapture_is_a_new_snapshot(engine, tmp_path):
    items = scraper_items("threads", at=T0)
    import_file(engine, write_json(tmp_path / apify_name("threads", T0), items))
    # same records, another capture time (a different export: one extra key marks it)
    items2 = [dict(i, scrapedBy="second run") for i in items]
    r = import_file(engine, write_json(tmp_path / apify_name("threads", T1), items2))
    assert r.snapshots_new == len(items)
    with engine.connect() as c:
        same = c.execute(
            text(
                "SELECT count(*) FROM data_downloads a JOIN data_downloads b ON a.post_id = b.post_id "
                "AND a.downloaded_at < b.downloaded_at WHERE a.like_count IS NOT DISTINCT FROM b.like_count"
            )
        ).scalar()
        assert same == len(items)


def test_capture_time_precedence(engine, tmp_path):
    items = scraper_items("threads")
    # filename beats --captured-at
    r = import_file(engine, write_json(tmp_path / apify_name("threads", T0), items), captured_at=T1)
    assert (r.captured_at, r.captured_at_source) == (T0, "filename")
    # --captured-at when the name has none
    items2 = [dict(i, v=2) for i in items]
    r = import_file(engine, write_json(tmp_path / "threads_b.json", items2), captured_at=T1)
    assert (r.captured_at, r.captured_at_source) == (T1, "cli")
    # import time last
    now = datetime(2025, 10, 1, 8, tzinfo=UTC)
    items3 = [dict(i, v=3) for i in items]
    r = import_file(engine, write_json(tmp_path / "threads_c.json", items3), now=now)
    assert (r.captured_at, r.captured_at_source) == (now, "import_time")
    with engine.connect() as c:
        assert c.execute(text("SELECT count(DISTINCT downloaded_at) FROM data_downloads")).scalar() == 3


def test_capture_time_from_records(engine, real_fixtures):
    f = next(real_fixtures.glob("kaminski-pawel__tiktok-tracker/*example1.json"))
    r = import_file(engine, f, captured_at=T1)
    assert r.captured_at_source == "record" and r.captured_at != T1


def test_duplicates_inside_a_file_keep_the_first(engine, tmp_path):
    items = scraper_items("instagram")[:3]
    dup = dict(items[0], likesCount=items[0]["likesCount"] + 100)
    f = write_json(tmp_path / apify_name("instagram-scraper", T0), [items[0], items[1], dup, items[2]])
    r = import_file(engine, f)
    assert r.posts_fetched == 3 and r.snapshots_new == 3 and r.records_rejected == 1
    with engine.connect() as c:
        rej = c.execute(text("SELECT record_index, reason FROM rejected_records")).one()
        assert rej.record_index == 2 and "duplicate of record 0" in rej.reason
        likes = c.execute(
            text(
                "SELECT d.like_count FROM data_downloads d JOIN posts p ON p.id = d.post_id WHERE p.url = :u"
            ),
            {"u": items[0]["url"]},
        ).scalar()
        assert likes == items[0]["likesCount"]


def test_loader_dedup_without_parser_dedup(engine, tmp_path, monkeypatch):
    """The loader applies the same keep-the-first rule when the parser does not."""
    import postpulse.ingest as ing

    orig = ing.iter_file
    monkeypatch.setattr(ing, "iter_file", lambda *a, **k: orig(*a, **{**k, "dedupe": False}))
    items = scraper_items("x")[:2]
    f = write_json(
        tmp_path / apify_name("tweet-scraper", T0), [items[0], dict(items[0], likeCount=1), items[1]]
    )
    r = import_file(engine, f)
    assert r.snapshots_new == 2 and r.duplicates == 1
    with engine.connect() as c:
        assert c.execute(text("SELECT min(record_index) FROM rejected_records")).scalar() == 1


def test_comments_replies_and_stub_post(engine, real_fixtures):
    f = next(real_fixtures.glob("FarrelAD__*/*.json"))
    r = import_file(engine, f)
    assert r.comments_upserted == 500 and r.posts_new == 1 and r.snapshots_new == 0
    with engine.connect() as c:
        replies = c.execute(
            text("SELECT count(*) FROM comments WHERE is_reply AND parent_comment_id IS NOT NULL")
        ).scalar()
        raw_replies = c.execute(
            text(
                "SELECT count(*) FROM comments WHERE coalesce(raw_json->>'repliesToId', '') <> '' "
                "AND raw_json->>'repliesToId' IN (SELECT platform_comment_id FROM comments)"
            )
        ).scalar()
        assert replies == raw_replies


def test_media_and_nested_comments(engine, tmp_path):
    items = scraper_items("instagram", n_profiles=3)
    r = import_file(engine, write_json(tmp_path / apify_name("instagram-scraper", T0), items))
    n_comments = sum(len(i.get("latestComments") or []) for i in items)
    n_replies = sum(len(c.get("replies") or []) for i in items for c in (i.get("latestComments") or []))
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM post_media")).scalar() >= len(items)
        assert c.execute(text("SELECT count(*) FROM comments")).scalar() == r.comments_upserted
        assert r.comments_upserted >= n_comments
        if n_replies:
            assert (
                c.execute(text("SELECT count(*) FROM comments WHERE parent_comment_id IS NOT NULL")).scalar()
                >= 1
            )


def test_id_collisions_are_retried_and_nothing_is_lost(engine, tmp_path, monkeypatch):
    """A tiny id space plus a forced collision on every first attempt: every row lands, none merges."""
    monkeypatch.setattr(ids, "HEX_DIGITS", 3)
    real_allocate = merge.allocate_ids
    calls = {"n": 0}

    def colliding(conn, table, n, **kw):
        got = real_allocate(conn, table, n, **kw)
        calls["n"] += 1
        if calls["n"] % 2 == 1 and table in ("posts", "data_downloads"):
            taken = conn.execute(text(f"SELECT id FROM {table} LIMIT 1")).scalar()
            if taken:
                got[0] = taken  # another writer "took" this id meanwhile
        return got

    monkeypatch.setattr(merge, "allocate_ids", colliding)
    total = 0
    for k, at in enumerate([T0, T1, T1 + timedelta(days=1)]):
        items = scraper_items("tiktok", n_profiles=4, posts_per_profile=5, seed=20 + k, at=at)
        total += len(items)
        import_file(engine, write_jsonl(tmp_path / apify_name(f"tiktok-scraper{k}", at, "jsonl"), items))
    assert count(engine, "posts") == total
    assert count(engine, "data_downloads") == total


def test_track_on_import_sets_next_check(engine, tmp_path):
    items = scraper_items("tiktok")
    now = datetime(2025, 9, 1, 12, 30, tzinfo=UTC)
    import_file(engine, write_json(tmp_path / apify_name("tiktok-scraper", now), items), track=True, now=now)
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT posted_at, next_check_at, tracking_started_at, tracking_complete FROM posts")
        ).all()
    assert all(r.tracking_started_at == now for r in rows)
    assert all(r.tracking_complete or r.next_check_at > now for r in rows)


def test_natural_snapshot_is_deterministic(engine, tmp_path):
    items = scraper_items("linkedin")
    import_file(engine, write_json(tmp_path / apify_name("linkedin-profile-posts", T0), items))
    snap = natural_snapshot(engine)
    assert len(snap["posts"]) == len(items) and len(snap["snapshots"]) == len(items)


@pytest.mark.parametrize("platform", ["instagram", "x", "linkedin", "tiktok", "threads"])
def test_every_sandbox_shape_imports(engine, tmp_path, platform):
    items = scraper_items(platform)
    r = import_file(engine, write_json(tmp_path / apify_name(platform, T0), items))
    assert r.posts_fetched == len(items) and r.records_rejected == 0


def test_bulk_id_pool_path(engine, tmp_path, monkeypatch):
    """Large imports allocate ids in a server-side pool (bounded memory); tiny id space too."""
    monkeypatch.setattr(merge, "BULK_IDS", 5)
    monkeypatch.setattr(ids, "HEX_DIGITS", 3)
    items = scraper_items("tiktok", n_profiles=4, posts_per_profile=5)
    r = import_file(engine, write_jsonl(tmp_path / apify_name("tiktok-scraper", T0, "jsonl"), items))
    assert r.posts_new == r.snapshots_new == len(items)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(DISTINCT id) FROM data_downloads")).scalar() == len(items)
        assert c.execute(text("SELECT bool_and(id ~ '^dl-[0-9a-f]{3}$') FROM data_downloads")).scalar()
