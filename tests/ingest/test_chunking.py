"""The stored result does not depend on the chunking (first chunk smaller, per-chunk merges), and
values staged with the binary COPY arrive exactly as given."""

import secrets
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from postpulse.ingest import staging
from postpulse.ingest.loader import import_file, load_records
from postpulse.ingest.records import MetricCounts, PostRecord, ProfileRecord
from postpulse.ingest.runs import RunSource
from postpulse.store.database import make_engine
from tests.conftest import app_url, create_db, drop_db
from tests.ingest.helpers import (
    T0,
    T1,
    apify_name,
    natural_snapshot,
    scraper_items,
    store_snapshot,
    write_json,
)


def _imports(engine, tmp_path) -> None:
    first = scraper_items("tiktok", n_profiles=4, posts_per_profile=6, seed=3)
    again = scraper_items("tiktok", n_profiles=4, posts_per_profile=6, seed=3, at=T1)
    # duplicates of earlier records further down the file (across chunk boundaries)
    import_file(
        engine, write_json(tmp_path / apify_name("tiktok-scraper", T0), first + first[:5]), track=True
    )
    import_file(engine, write_json(tmp_path / apify_name("tiktok-scraper", T1), again[::-1]))


def test_result_does_not_depend_on_the_chunking(
    engine, tmp_path, monkeypatch, pg_server_url, migrated_template
):
    monkeypatch.setattr(staging, "CHUNK_RECORDS", 7)  # first chunk 1 record, then 7
    (tmp_path / "a").mkdir()
    _imports(engine, tmp_path / "a")
    small = natural_snapshot(engine)
    monkeypatch.setattr(staging, "CHUNK_RECORDS", 100_000)  # the whole file in one chunk
    name = f"pp_test_{secrets.token_hex(5)}"
    create_db(pg_server_url, name, template=migrated_template)
    other = make_engine(app_url(pg_server_url, name))
    try:
        (tmp_path / "b").mkdir()
        _imports(other, tmp_path / "b")
        assert natural_snapshot(other) == small
    finally:
        other.dispose()
        drop_db(pg_server_url, name)


def test_binary_staging_keeps_values_exactly(engine):
    odd = 'tab\there, new\nline, back\\slash, quote " and ✨ 𝕏 é'
    cap = datetime(2025, 9, 1, 12, 0, 0, 123456, tzinfo=UTC)
    posted = datetime(2025, 8, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-7)))
    rec = PostRecord(
        "x",
        "42",
        url="https://x.com/a/status/42",
        text=odd,
        author=ProfileRecord(
            "x",
            platform_user_id="7",
            username="ann",
            display_name=odd,
            follower_count=10**15,
            is_verified=False,
            raw={"bio": odd},
        ),
        counts=MetricCounts(likes=10**15, views=0, shares=None),
        captured_at=cap,
        posted_at=posted,
        hashtags=["a\tb", "ü"],
        raw={"text": odd, "n": [1, 2.5, None, True], "k\\": {"x": "\\u0041"}},
        platform_stats={"s": odd},
    )
    rec.record_index = 0
    src = RunSource(
        source_kind="file", source_path="/odd", captured_at=T0, captured_at_source="cli", track=True
    )
    res = load_records(engine, [rec], src, now=T0 + timedelta(hours=1))
    assert res.status == "completed" and res.snapshots_new == 1
    with engine.connect() as c:
        p = c.execute(text("SELECT * FROM posts")).mappings().one()
        d = c.execute(text("SELECT * FROM data_downloads")).mappings().one()
        a = c.execute(text("SELECT * FROM profiles")).mappings().one()
    assert p["text_content"] == odd and p["like_count"] == 10**15 and p["view_count"] == 0
    assert p["posted_at"] == posted and p["first_seen_at"] == cap == d["downloaded_at"]
    assert p["hashtags"] == ["a\tb", "ü"] and p["tracking_started_at"] == T0 + timedelta(hours=1)
    assert p["next_check_at"] is not None and p["tracking_complete"] is False
    assert d["raw_json"] == {"text": odd, "n": [1, 2.5, None, True], "k\\": {"x": "\\u0041"}} == p["raw_json"]
    assert d["stats_json"] == {"s": odd} and d["share_count"] is None and d["like_count"] == 10**15
    assert a["display_name"] == odd and a["follower_count"] == 10**15 and a["is_verified"] is False
    assert a["raw_json"] == {"bio": odd}
    before = store_snapshot(engine)
    rec.record_index = 0
    again = load_records(engine, [rec], src, now=T0 + timedelta(hours=2))
    assert again.snapshots_new == 0  # the same capture again: nothing new
    after = store_snapshot(engine)
    assert after["data_downloads"] == before["data_downloads"]


def _post(i: int, author: ProfileRecord, at: datetime, comments: list | None = None) -> PostRecord:
    rec = PostRecord(
        "x",
        str(100 + i),
        url=f"https://x.com/a/status/{100 + i}",
        author=author,
        counts=MetricCounts(likes=i),
        captured_at=at,
        raw={"i": i},
        comments=comments or [],
    )
    rec.record_index = i
    return rec


def test_a_chunk_stages_one_row_per_author_the_latest(engine):
    """An author of many posts in one chunk is staged once, with the values of its latest
    (capture time, record) row, and the store ends up with those values."""

    def ann(followers: int) -> ProfileRecord:
        return ProfileRecord(
            "x", platform_user_id="7", username="ann", follower_count=followers, raw={"followers": followers}
        )

    bob = ProfileRecord("x", username="bob", follower_count=5)
    # capture times out of file order: the latest one is the 3rd record, not the last
    times = [T0 + timedelta(minutes=m) for m in (0, 10, 30, 20, 5)]
    recs = [_post(i, ann(1000 + i), at) for i, at in enumerate(times)] + [_post(9, bob, T0)]
    src = RunSource(source_kind="file", source_path="/authors", captured_at=T0, captured_at_source="cli")
    stager = staging.Stager(None, src, T0)
    stager.writer = _Collect()
    for r in recs:
        stager.add(r)
    stager.flush()
    rows = [row for chunk in stager.writer.chunks for row in chunk.get("stg_profile", [])]
    assert sorted((r[3], r[2], r[6], r[-2], r[-1]) for r in rows) == [
        ("ann", "7", 1002, T0 + timedelta(minutes=30), T0),
        ("bob", None, 5, T0, T0),
    ]  # latest row, first seen
    res = load_records(engine, recs, src, now=T0 + timedelta(hours=1))
    assert res.status == "completed" and res.profiles_new == 2
    with engine.connect() as c:
        got = dict(c.execute(text("SELECT username, follower_count FROM profiles")).all())
        seen = c.execute(
            text("SELECT first_seen_at, last_seen_at FROM profiles WHERE username = 'ann'")
        ).one()
    assert got == {"ann": 1002, "bob": 5}
    assert seen.last_seen_at == T0 + timedelta(minutes=30) and seen.first_seen_at == T0


@pytest.mark.parametrize("chunk", [1, 100_000])
def test_first_seen_is_the_earliest_capture_in_the_file(engine, monkeypatch, chunk):
    """A profile and a comment seen at several capture times in one file (one chunk, or one
    chunk per record) are first seen at the earliest of them, last seen at the latest."""
    from postpulse.ingest.records import CommentRecord

    monkeypatch.setattr(staging, "CHUNK_RECORDS", chunk)

    recs = []
    for i, minutes in enumerate((20, 0, 40)):  # the earliest capture is not the first record
        at = T0 + timedelta(minutes=minutes)
        author = ProfileRecord("x", platform_user_id="7", username="ann", follower_count=minutes)
        cm = CommentRecord(
            "x",
            "c1",
            platform_post_id="500",
            text=f"v{i}",
            author=ProfileRecord("x", username="bob"),
            captured_at=at,
        )
        rec = PostRecord(
            "x",
            "500",
            url="https://x.com/a/status/500",
            author=author,
            counts=MetricCounts(likes=i),
            captured_at=at,
            raw={"i": i},
            comments=[cm],
        )
        rec.record_index = i
        recs.append(rec)
    src = RunSource(source_kind="file", source_path="/first", captured_at=T0, captured_at_source="cli")
    res = load_records(engine, recs, src, now=T0 + timedelta(hours=1))
    assert res.status == "completed" and res.snapshots_new == 3
    with engine.connect() as c:
        profiles = c.execute(
            text("SELECT username, first_seen_at, last_seen_at FROM profiles ORDER BY 1")
        ).all()
        comment = c.execute(text("SELECT first_seen_at, last_seen_at, text FROM comments")).one()
        post = c.execute(text("SELECT first_seen_at, last_extracted_at FROM posts")).one()
    last = T0 + timedelta(minutes=40)
    assert [tuple(r) for r in profiles] == [("ann", T0, last), ("bob", T0, last)]
    assert tuple(comment) == (T0, last, "v2")
    assert tuple(post) == (T0, last)


def test_one_record_naming_an_author_twice_keeps_the_first_row(engine):
    """A post's author who also comments on it: both rows have the record's capture time and
    index; the post's author row (staged first) is the one kept, whatever the chunking."""
    from postpulse.ingest.records import CommentRecord

    author = ProfileRecord("linkedin", platform_user_id="u1", username="ann", profile_url="https://ln/ann")
    again = ProfileRecord(
        "linkedin", platform_user_id="u1", username="ann", profile_url="https://ln/ann?mini=1"
    )
    cm = CommentRecord("linkedin", "c1", platform_post_id="p1", author=again, text="thanks")
    rec = PostRecord(
        "linkedin", "p1", url="https://ln/p1", author=author, captured_at=T0, raw={"p": 1}, comments=[cm]
    )
    rec.record_index = 0
    src = RunSource(source_kind="file", source_path="/tie", captured_at=T0, captured_at_source="cli")
    res = load_records(engine, [rec], src, now=T0 + timedelta(hours=1))
    assert res.status == "completed"
    with engine.connect() as c:
        assert c.execute(text("SELECT profile_url FROM profiles")).scalar_one() == "https://ln/ann"


class _Collect:
    def __init__(self):
        self.chunks = []

    def submit(self, tables):
        self.chunks.append(tables)
