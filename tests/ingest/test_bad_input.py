"""Bad input: a clear error (nothing stored) or rejected records with reasons; the rest of the
store is untouched."""

import gzip
import json
import os

import pytest
from sqlalchemy import text

from postpulse.errors import PostpulseError
from postpulse.ingest.loader import import_file
from tests.ingest.helpers import T0, T1, apify_name, scraper_items, store_snapshot, write_json


@pytest.fixture
def seeded(engine, tmp_path):
    """A store with one good import in it, and its snapshot."""
    import_file(engine, write_json(tmp_path / apify_name("tweet-scraper", T0), scraper_items("x")))
    return store_snapshot(engine)


def _rows_kept(before: dict, after: dict) -> None:
    """Every run, snapshot, media row and rejected record that existed before is still there,
    unchanged (posts and profiles legitimately advance to the newer capture)."""
    for table in ("download_runs", "data_downloads", "post_media", "rejected_records"):
        assert set(before[table]) <= set(after[table]), table


def _file_error(engine, path, before, match):
    with pytest.raises(PostpulseError, match=match) as exc:
        import_file(engine, path)
    assert str(path.name) in str(exc.value) or str(path) in str(exc.value)
    assert store_snapshot(engine) == before


def test_truncated_json(engine, tmp_path, seeded):
    data = json.dumps(scraper_items("instagram"))
    f = tmp_path / apify_name("instagram-scraper", T1)
    f.write_text(data[: len(data) * 2 // 3])
    _file_error(engine, f, seeded, None)


def test_truncated_gzip(engine, tmp_path, seeded):
    raw = gzip.compress(json.dumps(scraper_items("instagram")).encode())
    f = tmp_path / (apify_name("instagram-scraper", T1) + ".gz")
    f.write_bytes(raw[: len(raw) // 2])
    _file_error(engine, f, seeded, None)


def test_binary_junk(engine, tmp_path, seeded):
    f = tmp_path / "junk.json"
    f.write_bytes(os.urandom(4096))
    _file_error(engine, f, seeded, None)


def test_empty_file(engine, tmp_path, seeded):
    f = tmp_path / "empty.json"
    f.write_bytes(b"")
    _file_error(engine, f, seeded, None)


def test_unknown_format(engine, tmp_path, seeded):
    f = write_json(tmp_path / "mystery.json", [{"foo": 1, "bar": "baz"}, {"foo": 2}])
    _file_error(engine, f, seeded, None)


def test_missing_file(engine, tmp_path, seeded):
    _file_error(engine, tmp_path / "nope.json", seeded, "not found")


def _bad_records(engine, tmp_path, seeded, mutate, expect_rejected: int, reason_part: str):
    items = scraper_items("x", at=T1)
    bad = mutate([dict(i) for i in items])
    r = import_file(engine, write_json(tmp_path / apify_name("tweet-scraper", T1), bad))
    assert r.records_rejected == expect_rejected
    with engine.connect() as c:
        reasons = (
            c.execute(text("SELECT reason FROM rejected_records WHERE run_id = :r"), {"r": r.run_id})
            .scalars()
            .all()
        )
    assert len(reasons) == expect_rejected
    assert all(reason_part in x.lower() for x in reasons), reasons
    _rows_kept(seeded, store_snapshot(engine))
    return r


def test_wrong_types(engine, tmp_path, seeded):
    def m(items):
        items[0]["likeCount"] = {"not": "a number"}
        items[1]["likeCount"] = "lots"
        return items

    r = _bad_records(engine, tmp_path, seeded, m, 2, "like")
    assert r.posts_fetched == 10


def test_negative_and_absurd_counts(engine, tmp_path, seeded):
    def m(items):
        items[0]["likeCount"] = -5
        items[1]["viewCount"] = 10**30
        return items

    _bad_records(engine, tmp_path, seeded, m, 2, "")


def test_missing_ids(engine, tmp_path, seeded):
    def m(items):
        for k in ("id", "url", "twitterUrl"):
            items[0].pop(k, None)
        items[1]["id"] = None
        items[1].pop("url", None)
        items[1].pop("twitterUrl", None)
        return items

    _bad_records(engine, tmp_path, seeded, m, 2, "id")


def test_duplicates_inside_one_file(engine, tmp_path, seeded):
    def m(items):
        return items + [dict(items[0]), dict(items[1], likeCount=999999)]

    r = _bad_records(engine, tmp_path, seeded, m, 2, "duplicate")
    assert r.snapshots_new == len(scraper_items("x", at=T1))


def test_huge_strings(engine, tmp_path, seeded):
    def m(items):
        items[0]["text"] = "x" * 3_000_000
        return items

    # the parser keeps texts to a sane length: the record is kept aside with the reason
    r = _bad_records(engine, tmp_path, seeded, m, 1, "")
    assert r.rejected[0]["field"] and r.rejected[0]["reason"]
    assert r.posts_fetched == len(scraper_items("x", at=T1)) - 1
    with engine.connect() as c:
        assert c.execute(text("SELECT max(length(text_content)) FROM posts")).scalar() < 3_000_000
        excerpt = c.execute(
            text("SELECT length(excerpt) FROM rejected_records WHERE run_id = :r"), {"r": r.run_id}
        ).scalar()
    assert excerpt <= 200


def test_odd_unicode(engine, tmp_path, seeded):
    f = tmp_path / apify_name("tweet-scraper", T1)
    items = scraper_items("x", at=T1)
    items[0]["text"] = "emoji 🚀🧗‍♀️ e\u0301 RTL \u202eabc zero\u200bwidth NUL\x00here"
    items[1]["text"] = "lone surrogate \ud800 end"
    items[1]["author"]["name"] = "nul\x00name 😀"
    f.write_text(json.dumps(items, ensure_ascii=True))  # \u0000 and \ud800 escapes in the JSON
    r = import_file(engine, f)
    assert r.posts_fetched == len(items)
    with engine.connect() as c:
        texts = (
            c.execute(
                text(
                    "SELECT text_content FROM posts WHERE text_content LIKE 'emoji%' "
                    "OR text_content LIKE 'lone%'"
                )
            )
            .scalars()
            .all()
        )
        raw_ok = c.execute(
            text("SELECT count(*) FROM data_downloads WHERE run_id = :r"), {"r": r.run_id}
        ).scalar()
    assert any("🚀" in t and "\x00" not in t and "NULhere" in t for t in texts)
    assert any(t.startswith("lone surrogate") for t in texts)
    assert raw_ok == len(items)
    _rows_kept(seeded, store_snapshot(engine))


def test_bad_line_in_jsonl_is_rejected_rest_loads(engine, tmp_path, seeded):
    items = scraper_items("tiktok", at=T1)
    lines = [json.dumps(i) for i in items]
    lines.insert(2, '{"broken": tru')
    lines.insert(4, "<html>not json</html>")
    f = tmp_path / apify_name("tiktok-scraper", T1, "jsonl")
    f.write_text("\n".join(lines) + "\n")
    r = import_file(engine, f)
    assert r.posts_fetched == len(items) and r.records_rejected == 2
    _rows_kept(seeded, store_snapshot(engine))


def test_a_forced_format_that_does_not_fit_is_refused(engine, tmp_path, seeded):
    """--format instagram on an X export: refused up front (the records look like X tweets), nothing
    stored, the file not marked imported, so the right format still works."""
    f = write_json(tmp_path / apify_name("tweet-scraper", T1), scraper_items("x", at=T1))
    with pytest.raises(
        PostpulseError, match=r"'apify_instagram_scraper' does not fit .* look like 'apify_x_tweets'"
    ):
        import_file(engine, f, format="apify_instagram_scraper")
    assert store_snapshot(engine) == seeded
    r = import_file(engine, f, format="apify_x_tweets")
    assert not r.already_imported and r.records_rejected == 0 and r.snapshots_new > 0


def test_a_forced_format_that_rejects_every_record_fails(engine, tmp_path, seeded):
    """Records no format recognises, forced through one that rejects them all (no id): the run
    fails with the first reason and the file stays importable."""
    f = write_json(tmp_path / "own_export.json", [{"tweet": {"text": "hi"}}, {"tweet": {"text": "yo"}}])
    with pytest.raises(
        PostpulseError, match=r"--format 'apify_x_tweets' rejected every one of its 2 records"
    ) as exc:
        import_file(engine, f, format="apify_x_tweets")
    assert "first: record 0" in str(exc.value)
    assert store_snapshot(engine) == seeded
    with engine.connect() as c:
        assert (
            c.execute(
                text("SELECT count(*) FROM download_runs WHERE source_path LIKE '%own_export.json'")
            ).scalar()
            == 0
        )
