"""Bad input: a clear FileReadError for unreadable files, a Rejected record with its reason
for bad records; the rest of the file still loads."""

from __future__ import annotations

import gzip
import json

import pytest

from postpulse.ingest import (
    FileReadError,
    PostRecord,
    Rejected,
    UnknownFormatError,
    detect_format,
    iter_file,
)
from postpulse.ingest.mapping import MAX_TEXT_CHARS
from postpulse.ingest.readers import MAX_RECORD_BYTES

from .conftest import data

TWEETS = json.loads(data("global_agriculture_tweets.json").read_text())


def tweet(**overrides):
    t = json.loads(json.dumps(TWEETS[1]))
    t.update(overrides)
    return t


def write_json(tmp_path, records, name="tweets.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def write_jsonl(tmp_path, records, name="tweets.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def split(recs):
    recs = list(recs)
    return ([r for r in recs if isinstance(r, PostRecord)], [r for r in recs if isinstance(r, Rejected)])


def test_truncated_json_array_is_a_file_error_after_good_records(tmp_path):
    full = json.dumps([tweet(id=str(i)) for i in range(5)])
    path = tmp_path / "cut.json"
    path.write_text(full[: int(len(full) * 0.7)])
    got = []
    with pytest.raises(FileReadError) as exc:
        for r in iter_file(path, format="apify_x_tweets"):
            got.append(r)
    # records before the cut were yielded; the loader parses fully before committing and
    # must store nothing from this file
    assert 1 <= len(got) < 5
    msg = str(exc.value)
    assert "cut.json" in msg and "truncated JSON" in msg and f"after record {len(got)}" in msg
    assert "download the file again" in msg


def test_invalid_json_array_names_position(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        '[{"id": "1", "createdAt": "Sat Jun 21 18:05:00 +0000 2025", "likeCount": 1}, {"id": oops}]'
    )
    with pytest.raises(FileReadError, match=r"bad\.json: invalid JSON after record 1 \(near byte"):
        list(iter_file(path, format="apify_x_tweets"))


def test_bad_jsonl_line_is_rejected_others_load(tmp_path):
    path = tmp_path / "tweets.jsonl"
    lines = [
        json.dumps(tweet(id="1")),
        '{"id": "2", "likeCount": ',
        json.dumps(tweet(id="3")),
        "[1, 2]",
        json.dumps(tweet(id="5"))[:-10],
    ]  # last line truncated, no newline
    path.write_text("\n".join(lines))
    posts, rejected = split(iter_file(path))
    assert [p.platform_post_id for p in posts] == ["1", "3"]
    assert [r.record_index for r in rejected] == [1, 3, 4]
    assert "line 2: invalid JSON" in rejected[0].reason
    assert "expected a JSON object, got an array" in rejected[1].reason
    assert "line 5: truncated or invalid JSON" in rejected[2].reason
    assert rejected[0].excerpt.startswith('{"id": "2"')


@pytest.mark.parametrize(
    "field, value, reason, normalized",
    [
        ("likeCount", -5, "negative count (source: likeCount) (got -5)", "likes"),
        ("viewCount", 10**13, "absurd count", "views"),
        ("likeCount", "lots", "not a number", "likes"),
        ("likeCount", {"n": 1}, "expected a number, got an object", "likes"),
        ("retweetCount", 1.5, "not a whole number", "shares"),
        ("text", {"a": 1}, "expected text, got an object", "text"),
        ("createdAt", "the day before yesterday", "not a recognised date", "posted_at"),
    ],
)
def test_wrong_types_and_bad_counts_are_rejected_with_field(tmp_path, field, value, reason, normalized):
    bad = tweet(id="2")
    bad[field] = value
    recs = list(iter_file(write_json(tmp_path, [tweet(id="1"), bad, tweet(id="3")]), format="apify_x_tweets"))
    posts, rejected = split(recs)
    assert [p.platform_post_id for p in posts] == ["1", "3"]
    (r,) = rejected
    assert r.record_index == 1 and reason in r.reason and r.kind == "invalid"
    assert r.field == normalized and r.reason.startswith(normalized + ":") and len(r.excerpt) <= 200


@pytest.mark.parametrize(
    "value, reason",
    [
        ([1, 2], "expected an id (string or integer), got a list"),
        (1.5e300, "non-integral or imprecise number"),
        ({"x": 1}, "got an object"),
        ("9" * 600, "limit is 512"),
    ],
)
def test_ids_of_the_wrong_type(tmp_path, value, reason):
    rows = json.loads(data("threads_posts.json").read_text())
    good = json.loads(json.dumps(rows[0]))
    rows[0]["pk"] = value
    good["pk"], good["code"] = "123", "CAAAAAAAAAA"
    recs = list(iter_file(write_json(tmp_path, [rows[0], good], "threads.json"), format="threads_posts"))
    assert isinstance(recs[0], Rejected) and reason in recs[0].reason
    assert recs[0].field == "platform_post_id"
    assert recs[1].platform_post_id == "123"
    # integral numbers are fine as ids
    assert json.loads('{"pk": 12}')["pk"] == 12


def test_wrong_type_in_author_and_nested_count(tmp_path):
    bad = tweet(id="2")
    bad["author"]["followers"] = -1
    posts, rejected = split(iter_file(write_json(tmp_path, [bad])))
    assert not posts and rejected[0].field == "author.follower_count" and "negative" in rejected[0].reason


def test_missing_ids_are_rejected(tmp_path):
    a = tweet(id="1")
    b = tweet()
    for k in ("id", "url", "twitterUrl"):
        b.pop(k)
    c = tweet(id="", url="", twitterUrl="")
    posts, rejected = split(iter_file(write_json(tmp_path, [a, b, c]), format="apify_x_tweets"))
    assert [p.platform_post_id for p in posts] == ["1"]
    assert all(r.field == "platform_post_id" and "missing post id" in r.reason for r in rejected)
    assert "looked at: id | x_status_id" in rejected[0].reason


def test_missing_comment_post_id_is_rejected(tmp_path):
    rows = json.loads(data("dataset_tiktok-comments-scraper_2025-05-25_06-21-26-775.json").read_text())
    for k in ("videoWebUrl", "submittedVideoUrl", "input"):
        rows[0].pop(k)
    path = write_json(tmp_path, rows, "comments.json")
    recs = list(iter_file(path, format="apify_tiktok_comments"))
    assert isinstance(recs[0], Rejected) and "the post the comment belongs to" in recs[0].reason
    assert len([r for r in recs if not isinstance(r, Rejected)]) == 2


def test_duplicates_inside_one_file(tmp_path):
    same = tweet(id="7")
    changed = tweet(id="7", likeCount=99999)
    recs = list(iter_file(write_json(tmp_path, [same, tweet(id="8"), same, changed])))
    posts, rejected = split(recs)
    assert [p.platform_post_id for p in posts] == ["7", "8"]
    assert posts[0].counts.likes == 1500  # the first one is kept
    assert [r.kind for r in rejected] == ["duplicate", "duplicate"]
    assert "duplicate of record 0" in rejected[0].reason and "identical values" in rejected[0].reason
    assert "different values; the first one is kept" in rejected[1].reason
    # opt out: the loader can do its own deduplication
    assert len([r for r in iter_file(write_json(tmp_path, [same, same]), dedupe=False)]) == 2


def test_same_post_with_different_capture_times_is_not_a_duplicate(tmp_path):
    a = tweet(id="7", scrapedAt="2025-06-21T10:00:00Z")
    b = tweet(id="7", scrapedAt="2025-06-22T10:00:00Z")
    # a user mapping that reads the per-record capture time
    m = tmp_path / "m.toml"
    m.write_text(
        'name = "x_with_time"\nplatform = "x"\n[detect]\nall = ["id", "scrapedAt"]\n'
        '[fields]\nplatform_post_id = "id"\ncaptured_at = "scrapedAt"\n[counts]\nlikes = "likeCount"\n'
    )
    recs = list(iter_file(write_json(tmp_path, [a, b]), mapping_paths=[m]))
    assert [type(r) for r in recs] == [PostRecord, PostRecord]
    assert recs[0].captured_at != recs[1].captured_at


def test_unknown_format_lists_known_formats_and_how_to_force(tmp_path):
    path = write_json(tmp_path, [{"foo": 1, "bar": 2}], "mystery.json")
    with pytest.raises(UnknownFormatError) as exc:
        detect_format(path)
    msg = str(exc.value)
    assert "mystery.json" in msg and "apify_x_tweets" in msg and "threads_posts" in msg
    assert "--format" in msg and "--mapping" in msg and "foo, bar" in msg
    with pytest.raises(UnknownFormatError):
        list(iter_file(path))


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "file is empty"),
        (b"   \n\n  ", "file is empty"),
        (bytes(range(256)) * 10, "binary data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
        ('[{"a": "é"}]'.encode("utf-16"), "UTF-16"),
        ("id,text\n1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (b'"just a string"', "not a list or object"),
        (b"42", "not a list or object"),
        (b"hello world this is prose\n", "unrecognised"),
    ],
)
def test_unreadable_files(tmp_path, content, problem):
    path = tmp_path / "input.json"
    path.write_bytes(content)
    with pytest.raises(FileReadError) as exc:
        list(iter_file(path))
    assert problem in str(exc.value) and "input.json" in str(exc.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileReadError, match="file not found"):
        list(iter_file(tmp_path / "nope.json"))
    with pytest.raises(FileReadError, match="directory"):
        list(iter_file(tmp_path))


def test_empty_json_array_gives_no_records(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[]")
    with pytest.raises(UnknownFormatError):
        detect_format(path)  # nothing to recognise
    assert list(iter_file(path, format="apify_x_tweets")) == []


def test_gzip_transparent_and_truncated_gzip(tmp_path):
    raw = data("dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl").read_bytes()
    gz = tmp_path / "dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl.gz"
    gz.write_bytes(gzip.compress(raw))
    assert detect_format(gz) == "apify_tiktok_scraper"
    assert detect_format(gz, sample=gz.read_bytes()[:1000]) == "apify_tiktok_scraper"
    plain = list(iter_file(data("dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl")))
    zipped = list(iter_file(gz))
    assert [getattr(r, "platform_post_id", None) for r in zipped] == [
        getattr(r, "platform_post_id", None) for r in plain
    ]
    big = json.dumps([tweet(id=str(i)) for i in range(300)]).encode()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(big)[:-200])
    with pytest.raises(FileReadError, match="gzip|truncated"):
        list(iter_file(cut, format="apify_x_tweets"))


def test_huge_text_field_is_rejected_not_stored(tmp_path):
    huge = "x" * (10 * 1024 * 1024)
    recs = list(iter_file(write_jsonl(tmp_path, [tweet(id="1"), tweet(id="2", text=huge), tweet(id="3")])))
    posts, rejected = split(recs)
    assert [p.platform_post_id for p in posts] == ["1", "3"]
    assert rejected[0].field == "text" and f"limit is {MAX_TEXT_CHARS:,}" in rejected[0].reason
    assert "10,485,760 characters" in rejected[0].reason and len(rejected[0].excerpt) <= 200


def test_record_over_the_line_limit_is_skipped_without_loading_it(tmp_path):
    path = tmp_path / "tweets.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps(tweet(id="1")) + "\n")
        f.write('{"id": "2", "text": "' + "y" * (MAX_RECORD_BYTES + 10) + '"}\n')
        f.write(json.dumps(tweet(id="3")) + "\n")
    posts, rejected = split(iter_file(path, format="apify_x_tweets"))
    assert [p.platform_post_id for p in posts] == ["1", "3"]
    assert "line 2: record is" in rejected[0].reason and "limit" in rejected[0].reason


def test_odd_unicode_and_nul_bytes(tmp_path):
    rtl = "مرحبا بالعالم \u202eabc\u202c"
    emoji = "👩🏽‍🎓 🇵🇹 𝐋𝐞 𝐏𝐚𝐬𝐬 \U0001f600"
    recs = [
        tweet(id="1", text=emoji),
        tweet(id="2", text=rtl),
        tweet(id="3", text="nul\u0000inside", extra={"k\u0000": "v\u0000"}),
    ]
    for writer in (write_json, write_jsonl):
        posts, rejected = split(iter_file(writer(tmp_path, recs)))
        assert not rejected
        assert posts[0].text == emoji and posts[1].text == rtl
        # NUL bytes are stripped (PostgreSQL text/jsonb cannot store them), raw JSON included
        assert posts[2].text == "nulinside"
        assert posts[2].raw["extra"] == {"k": "v"}
        assert "\x00" not in json.dumps(posts[2].raw)


def test_lone_surrogates_are_replaced(tmp_path):
    path = tmp_path / "tweets.jsonl"
    line = json.dumps(tweet(id="1", text="bad \ud800 surrogate"))  # json.dumps escapes it as \ud800
    path.write_text(line + "\n")
    (p,) = list(iter_file(path))
    p.text.encode("utf-8")  # must be valid UTF-8 now
    assert p.text.startswith("bad ") and p.text.endswith(" surrogate")


def test_numbers_beyond_64_bits_do_not_break_the_file(tmp_path):
    path = tmp_path / "tweets.json"
    recs = [tweet(id="1"), tweet(id="2", big=123456789012345678901234567890), tweet(id="3")]
    path.write_text(json.dumps(recs))
    posts, rejected = split(iter_file(path))
    assert [p.platform_post_id for p in posts] == ["1", "2", "3"]
    assert posts[1].raw["big"] == 123456789012345678901234567890


def test_non_object_records_in_array(tmp_path):
    posts, rejected = split(
        iter_file(write_json(tmp_path, [tweet(id="1"), 5, None, "x", tweet(id="2")]), format="apify_x_tweets")
    )
    assert [p.platform_post_id for p in posts] == ["1", "2"]
    assert [r.record_index for r in rejected] == [1, 2, 3]
    assert all("expected a JSON object" in r.reason for r in rejected)


def test_csv_bad_rows(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "id,createdAt,likeCount,author/userName\n"
        '1,2025-06-21T18:05:00Z,"1,200",a\n'
        "2,2025-06-21T18:05:00Z,5\n"
        "3,2025-06-21T18:05:00Z,-4,c\n"
        "4,2025-06-21T18:05:00Z,,d\n"
    )
    posts, rejected = split(iter_file(path, format="apify_x_tweets"))
    assert [(p.platform_post_id, p.counts.likes, p.author.username) for p in posts] == [
        ("1", 1200, "a"),
        ("4", None, "d"),
    ]
    assert "row 3: has 3 fields, the header has 4" in rejected[0].reason
    assert rejected[1].field == "likes" and "negative" in rejected[1].reason


def test_csv_semicolon_and_bom_and_dotted_columns(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffid;createdAt;likeCount;author.userName\n9;1736159311;1.2K;zed\n".encode("utf-8"))
    (p,) = list(iter_file(path, format="apify_x_tweets"))
    assert p.platform_post_id == "9" and p.counts.likes == 1200 and p.author.username == "zed"
