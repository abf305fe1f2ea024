"""The stored result does not depend on the chunking (first chunk smaller, per-chunk merges), and
values staged with the binary COPY arrive exactly as given."""

import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from postpulse.ingest import staging
from postpulse.ingest.loader import import_file, load_records
from postpulse.ingest.records import MetricCounts, PostRecord, ProfileRecord
from postpulse.ingest.runs import RunSource
from postpulse.store.database import make_engine
from tests.conftest import _app_url, _create_db, _drop_db
from tests.ingest.helpers import T0, T1, apify_name, natural_snapshot, scraper_items, store_snapshot, write_json


def _imports(engine, tmp_path) -> None:
    first = scraper_items("tiktok", n_profiles=4, posts_per_profile=6, seed=3)
    again = scraper_items("tiktok", n_profiles=4, posts_per_profile=6, seed=3, at=T1)
    # duplicates of earlier records further down the file (across chunk boundaries)
    import_file(engine, write_json(tmp_path / apify_name("tiktok-scraper", T0), first + first[:5]), track=True)
    import_file(engine, write_json(tmp_path / apify_name("tiktok-scraper", T1), again[::-1]))


def test_result_does_not_depend_on_the_chunking(engine, tmp_path, monkeypatch, pg_server_url, migrated_template):
    monkeypatch.setattr(staging, "CHUNK_RECORDS", 7)  # first chunk 1 record, then 7
    (tmp_path / "a").mkdir()
    _imports(engine, tmp_path / "a")
    small = natural_snapshot(engine)
    monkeypatch.setattr(staging, "CHUNK_RECORDS", 100_000)  # the whole file in one chunk
    name = f"pp_test_{secrets.token_hex(5)}"
    _create_db(pg_server_url, name, template=migrated_template)
    other = make_engine(_app_url(pg_server_url, name))
    try:
        (tmp_path / "b").mkdir()
        _imports(other, tmp_path / "b")
        assert natural_snapshot(other) == small
    finally:
        other.dispose()
        _drop_db(pg_server_url, name)


def test_binary_staging_keeps_values_exactly(engine):
    odd = "tab\there, new\nline, back\\slash, quote \" and ✨ 𝕏 é"
    cap = datetime(2025, 9, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    posted = datetime(2025, 8, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-7)))
    rec = PostRecord("x", "42", url="https://x.com/a/status/42", text=odd,
                     author=ProfileRecord("x", platform_user_id="7", username="ann", display_name=odd,
                                          follower_count=10 ** 15, is_verified=False, raw={"bio": odd}),
                     counts=MetricCounts(likes=10 ** 15, views=0, shares=None), captured_at=cap, posted_at=posted,
                     hashtags=["a\tb", "ü"], raw={"text": odd, "n": [1, 2.5, None, True], "k\\": {"x": "\\u0041"}},
                     platform_stats={"s": odd})
    rec.record_index = 0
    src = RunSource(source_kind="file", source_path="/odd", captured_at=T0, captured_at_source="cli", track=True)
    res = load_records(engine, [rec], src, now=T0 + timedelta(hours=1))
    assert res.status == "completed" and res.snapshots_new == 1
    with engine.connect() as c:
        p = c.execute(text("SELECT * FROM posts")).mappings().one()
        d = c.execute(text("SELECT * FROM data_downloads")).mappings().one()
        a = c.execute(text("SELECT * FROM profiles")).mappings().one()
    assert p["text_content"] == odd and p["like_count"] == 10 ** 15 and p["view_count"] == 0
    assert p["posted_at"] == posted and p["first_seen_at"] == cap == d["downloaded_at"]
    assert p["hashtags"] == ["a\tb", "ü"] and p["tracking_started_at"] == T0 + timedelta(hours=1)
    assert p["next_check_at"] is not None and p["tracking_complete"] is False
    assert d["raw_json"] == {"text": odd, "n": [1, 2.5, None, True], "k\\": {"x": "\\u0041"}} == p["raw_json"]
    assert d["stats_json"] == {"s": odd} and d["share_count"] is None and d["like_count"] == 10 ** 15
    assert a["display_name"] == odd and a["follower_count"] == 10 ** 15 and a["is_verified"] is False
    assert a["raw_json"] == {"bio": odd}
    before = store_snapshot(engine)
    rec.record_index = 0
    again = load_records(engine, [rec], src, now=T0 + timedelta(hours=2))
    assert again.snapshots_new == 0  # the same capture again: nothing new
    after = store_snapshot(engine)
    assert after["data_downloads"] == before["data_downloads"]
