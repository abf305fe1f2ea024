"""The staging COPY on a second connection (postpulse.ingest.side_staging, migration 0008): the
same store as without it, nothing left in ``import_staging`` after an import (completed or
failed), a killed import's tables dropped by the next one, and a store without the schema still
imports."""

import secrets

import psycopg
import pytest
from sqlalchemy import text

from postpulse.ingest import loader, side_staging, staging
from postpulse.ingest.loader import import_file, load_records
from postpulse.ingest.readers import FileReadError
from postpulse.ingest.records import MetricCounts, PostRecord
from postpulse.ingest.runs import RunSource
from postpulse.store.database import make_engine
from postpulse.store.urls import libpq_url
from tests.conftest import app_url, create_db, drop_db
from tests.ingest.helpers import T0, T1, apify_name, count, natural_snapshot, scraper_items, write_json


def _side_tables(db_url: str) -> list[str]:
    with psycopg.connect(libpq_url(db_url)) as c:
        return [
            n for (n,) in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'import_staging'")
        ]


def _imports(engine, tmp_path) -> None:
    first = scraper_items("instagram", n_profiles=5, posts_per_profile=8, seed=4)
    again = scraper_items("instagram", n_profiles=5, posts_per_profile=8, seed=4, at=T1)
    import_file(
        engine, write_json(tmp_path / apify_name("instagram-scraper", T0), first + first[:3]), track=True
    )
    import_file(engine, write_json(tmp_path / apify_name("instagram-scraper", T1), again[::-1]))


def test_side_staging_stores_the_same_and_leaves_nothing(
    engine, db_url, tmp_path, monkeypatch, pg_server_url, migrated_template
):
    monkeypatch.setattr(staging, "CHUNK_RECORDS", 9)  # many chunks, each through side tables
    copies = []
    real_copy = side_staging.SideStaging.copy
    monkeypatch.setattr(
        side_staging.SideStaging, "copy", lambda self, t: copies.append(1) or real_copy(self, t)
    )
    (tmp_path / "a").mkdir()
    _imports(engine, tmp_path / "a")
    assert len(copies) > 5, "the chunks did not go through the side connection"
    assert _side_tables(db_url) == []
    with_side = natural_snapshot(engine)

    monkeypatch.setattr(loader, "SIDE_STAGING", False)
    name = f"pp_test_{secrets.token_hex(5)}"
    create_db(pg_server_url, name, template=migrated_template)
    other = make_engine(app_url(pg_server_url, name))
    try:
        (tmp_path / "b").mkdir()
        n = len(copies)
        _imports(other, tmp_path / "b")
        assert len(copies) == n  # this time without
        assert natural_snapshot(other) == with_side
    finally:
        other.dispose()
        drop_db(pg_server_url, name)


def test_a_failed_import_leaves_no_side_tables(engine, db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "CHUNK_RECORDS", 5)
    items = scraper_items("tiktok", n_profiles=4, posts_per_profile=6, seed=8)
    bad = tmp_path / apify_name("tiktok-scraper", T0)
    good = write_json(tmp_path / "ok.json", items).read_bytes()
    bad.write_bytes(good[: int(len(good) * 0.8)])  # truncated JSON: fails after several chunks
    with pytest.raises(FileReadError):
        import_file(engine, bad)
    assert count(engine, "posts") == 0 and count(engine, "download_runs") == 0
    assert _side_tables(db_url) == []


def test_a_killed_imports_tables_are_dropped_by_the_next_import(engine, db_url, tmp_path):
    with psycopg.connect(libpq_url(db_url), autocommit=True) as c:
        # a dead import's leftovers (nobody holds its token's lock) ...
        c.execute("CREATE UNLOGGED TABLE import_staging.tdeadbeef0001_1_stg_post (x int)")
        c.execute("CREATE UNLOGGED TABLE import_staging.tdeadbeef0001_2_stg_profile (x int)")
        # ... and a running one's (its lock is held by this other session)
        running = psycopg.connect(libpq_url(db_url), autocommit=True)
        try:
            running.execute(
                "SELECT pg_advisory_lock(%s, hashtext(%s))", (side_staging.LOCK_CLASS, "a1b2c3d4e5f6")
            )
            c.execute("CREATE UNLOGGED TABLE import_staging.ta1b2c3d4e5f6_1_stg_post (x int)")
            import_file(
                engine, write_json(tmp_path / apify_name("tiktok-scraper", T0), scraper_items("tiktok"))
            )
            assert _side_tables(db_url) == ["ta1b2c3d4e5f6_1_stg_post"]
        finally:
            running.close()
    import_file(
        engine, write_json(tmp_path / apify_name("tiktok-scraper", T1), scraper_items("tiktok", at=T1))
    )
    assert _side_tables(db_url) == []


def test_a_store_without_the_schema_still_imports(engine, db_url):
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA import_staging CASCADE"))
    assert loader.open_side_staging(engine) is None
    src = RunSource(source_kind="file", source_path="/x", captured_at=T0, captured_at_source="cli")
    recs = []
    for i in range(12):
        r = PostRecord(
            "x", str(i), url=f"https://x.com/a/status/{i}", counts=MetricCounts(likes=i), captured_at=T0
        )
        r.record_index = i
        recs.append(r)
    res = load_records(engine, recs, src)
    assert res.status == "completed" and res.snapshots_new == 12
