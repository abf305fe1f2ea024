"""Declarative mappings: validation errors, user mappings, the shipped examples, the README."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from postpulse.ingest import (
    MappingError,
    PostRecord,
    detect_format,
    iter_file,
    known_formats,
    load_mappings,
)
from postpulse.ingest.detect import UnknownFormatError
from postpulse.ingest.mapping import compile_path, compile_spec, parse_mapping

from .conftest import EXAMPLES, data

README = Path(__file__).resolve().parents[2] / "postpulse" / "ingest" / "mappings" / "README.md"

BUILTIN = {
    "apify_linkedin_profile_posts",
    "apify_linkedin_company_posts",
    "apify_linkedin_post_search",
    "linkedin_profile_posts_v2",
    "linkedin_search_no_stats",
    "apify_instagram_scraper",
    "apify_instagram_hashtag",
    "instagram_hashtag_stats",
    "apify_tiktok_scraper",
    "tiktok_web_api",
    "apify_tiktok_comments",
    "apify_x_tweets",
    "threads_posts",
    "bluesky_posts",
    "bluesky_author_feed",
    "apify_youtube_scraper",
    "apify_facebook_posts",
    "ytdlp_info",
    "ytdlp_flat",
    "official_youtube",
    "official_x",
    "official_instagram",
    "official_linkedin",
}


def test_builtin_formats_are_all_mappings():
    assert set(known_formats()) == BUILTIN


def test_paths():
    rec = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x": {"0": "zero"}, "k": "v"}
    assert compile_path("a.b.1.c")(rec) == 2
    assert compile_path("a.b.5.c")(rec) is None
    assert compile_path("x.0")(rec) == "zero"
    assert compile_path("k.z")(rec) is None
    assert compile_path(".")(rec) is rec


def test_spec_forms():
    rec = {
        "a": "",
        "b": 0,
        "first": "Ada",
        "last": "L",
        "tags": [{"t": "x"}, {"t": "y"}],
        "u": "https://x.com/ada/status/9",
        "likes": -1,
    }
    assert compile_spec("f", "k", ["a", "b"])(rec) == 0  # "" is absent, 0 is present
    assert compile_spec("f", "k", {"join": ["first", "last"]})(rec) == "Ada L"
    assert compile_spec("f", "k", {"path": "tags", "each": "t"})(rec) == ["x", "y"]
    assert compile_spec("f", "k", {"path": "u", "transform": "x_status_id"})(rec) == "9"
    assert compile_spec("f", "k", {"template": "https://x.com/{first}/{b}"})(rec) == "https://x.com/Ada/0"
    assert compile_spec("f", "k", {"template": "{missing}/x"})(rec) is None
    assert compile_spec("f", "k", {"const": "video"})(rec) == "video"
    assert compile_spec("f", "k", {"path": "likes", "none_if": [-1]})(rec) is None
    assert compile_spec("f", "k", {"paths": ["nope", "u"], "transform": "x_username"})(rec) == "ada"


GOOD = {"name": "t", "platform": "x", "detect": {"all": ["id"]}, "fields": {"platform_post_id": "id"}}


@pytest.mark.parametrize(
    "change, key, problem",
    [
        ({"name": None}, "name", "required"),
        ({"platform": ""}, "platform", "required"),
        ({"colour": "red"}, "colour", "unknown top-level key"),
        ({"kind": "video"}, "kind", "expected one of"),
        ({"detect": {}}, "[detect]", "needs 'all' and/or 'any'"),
        ({"detect": {"all": ["id"], "maybe": ["x"]}}, "[detect] maybe", "unknown key"),
        ({"fields": {}}, "[fields] platform_post_id", "required"),
        ({"fields": {"platform_post_id": "id", "likes": "x"}}, "[fields] likes", "unknown field"),
        (
            {"fields": {"platform_post_id": {"path": "id", "transform": "nope"}}},
            "[fields] platform_post_id",
            "unknown transform",
        ),
        (
            {"fields": {"platform_post_id": {"path": "id", "colour": 1}}},
            "[fields] platform_post_id",
            "unknown key",
        ),
        (
            {"fields": {"platform_post_id": 5}},
            "[fields] platform_post_id",
            "expected a path string or a table",
        ),
        ({"fields": {"platform_post_id": "a..b"}}, "[fields] platform_post_id", "invalid path"),
        ({"counts": {"hearts": "h"}}, "[counts] hearts", "unknown field"),
        ({"hooks": ["nope"]}, "hooks", "unknown hook"),
        ({"expand": "nope"}, "expand", "unknown expander"),
        ({"comments": {"text": "t"}}, "[comments] path", "required"),
        ({"comments": {"path": "c"}}, "[comments] platform_comment_id", "required"),
        ({"media": [{"path": "m", "colour": "x"}]}, "[[media]] #1 colour", "unknown field"),
        ({"priority": "high"}, "priority", "integer"),
        ({"kind": "comment", "fields": {"text": "t"}}, "[fields] platform_comment_id", "required"),
    ],
)
def test_validation_errors_name_file_key_problem(change, key, problem):
    spec = {**GOOD, **change}
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(MappingError) as exc:
        parse_mapping(spec, "my.toml")
    assert exc.value.source == "my.toml" and exc.value.key == key and problem in exc.value.problem
    assert str(exc.value).startswith(f"my.toml: {key}: ")


def test_load_mappings_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x\n")
    with pytest.raises(MappingError, match=r"bad\.toml: not valid TOML"):
        load_mappings([bad])
    with pytest.raises(MappingError, match="not found"):
        load_mappings([tmp_path / "missing.toml"])
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(MappingError, match="no \\*.toml"):
        load_mappings([empty])
    dup = tmp_path / "dup.toml"
    dup.write_text(
        'name = "threads_posts"\nplatform = "x"\n[detect]\nall = ["a"]\n[fields]\nplatform_post_id = "a"\n'
    )
    with pytest.raises(MappingError, match="already defined"):
        load_mappings([dup])


def test_youtube_csv_example_mapping():
    mapping = EXAMPLES / "youtube_videos.toml"
    path = data("youtube_videos.csv")
    with pytest.raises(UnknownFormatError):
        detect_format(path)  # not a built-in format
    assert detect_format(path, mapping_paths=[mapping]) == "mapping:youtube_videos"
    a, b = list(iter_file(path, mapping_paths=[mapping]))
    assert (
        a.platform == "youtube"
        and a.platform_post_id == "AAAAAAAAAA1"
        and a.format == "mapping:youtube_videos"
    )
    assert a.url == "https://www.youtube.com/watch?v=AAAAAAAAAA1"
    assert (a.counts.views, a.counts.likes, a.counts.comments) == (1_500_000_000, 17_000_000, 2_400_000)
    assert a.hashtags == ["80s", "pop"] and a.author.display_name == "Demo Channel"
    assert a.media[0].duration_s == 213.0 and a.media[0].thumbnail_url.endswith("hqdefault.jpg")
    assert (b.counts.views, b.counts.likes, b.counts.comments) == (12345, None, None)  # "" and "-" are absent
    # the same mapping reads the same data as JSONL
    assert [r.counts for r in iter_file(path, "mapping:youtube_videos", mapping_paths=[EXAMPLES])] == [
        a.counts,
        b.counts,
    ]


def test_youtube_example_reads_the_data_api_response(tmp_path):
    """The example maps the YouTube Data API v3 ``videos.list`` response, found by its key."""
    item = {
        "kind": "youtube#video",
        "id": "AAAAAAAAAA1",
        "snippet": {
            "publishedAt": "2009-10-25T06:57:33Z",
            "channelId": "UCfakechannel0000000001",
            "title": "Never gonna",
            "channelTitle": "Demo Channel",
            "tags": ["80s"],
        },
        "contentDetails": {"duration": "PT3M33S"},
        "statistics": {"viewCount": "1500000000", "likeCount": "17000000", "commentCount": "2400000"},
    }
    f = tmp_path / "videos.json"
    f.write_text(json.dumps({"kind": "youtube#videoListResponse", "items": [item]}))
    (a,) = list(iter_file(f, mapping_paths=[EXAMPLES / "youtube_videos.toml"]))
    assert a.format == "mapping:youtube_videos" and a.counts.views == 1_500_000_000
    assert a.media[0].duration_s == 213.0


def test_facebook_example_mapping(tmp_path):
    rec = {
        "postId": "1234567890",
        "pageName": "examplepage",
        "url": "https://www.facebook.com/examplepage/posts/1234567890",
        "text": "Hello #world",
        "time": "2025-03-01T10:00:00.000Z",
        "likes": 120,
        "comments": 4,
        "shares": 2,
        "reactionLikeCount": 100,
        "reactionLoveCount": 20,
        "user": {"id": "99", "name": "Example Page"},
        "media": [
            {
                "__typename": "Photo",
                "photo_image": {"uri": "https://cdn.example/p.jpg", "width": 640, "height": 480},
            }
        ],
    }
    path = tmp_path / "fb.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    assert detect_format(path, mapping_paths=[EXAMPLES]) == "mapping:facebook_page_posts"
    (p,) = list(iter_file(path, mapping_paths=[EXAMPLES]))
    assert p.platform == "facebook" and p.counts.reactions == 120 and p.counts.likes == 100
    assert p.platform_stats == {"reactionLikeCount": 100, "reactionLoveCount": 20}
    assert p.media[0].media_type == "photo" and p.media[0].width == 640 and p.hashtags == ["world"]


def test_readme_examples_are_valid_mappings():
    text = README.read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        parse_mapping(tomllib.loads(block), "README.md")
    # the README's complete Facebook example is the shipped file
    shipped = tomllib.loads((EXAMPLES / "facebook_page_posts.toml").read_text())
    assert any(tomllib.loads(b) == shipped for b in blocks)


def test_user_mapping_for_object_container_and_comments(tmp_path):
    m = tmp_path / "team.toml"
    m.write_text("""
name = "team_export"
platform = "mastodon"
items = "data.statuses"
[meta]
captured_at = "data.fetched_at"
[detect]
all = ["sid", "acct"]
[fields]
platform_post_id = "sid"
text = "content"
posted_at = "created"
[author]
username = "acct"
[counts]
likes = "favs"
shares = "boosts"
[comments]
path = "replies"
platform_comment_id = "rid"
text = "body"
""")
    body = {
        "data": {
            "fetched_at": "2025-05-01T00:00:00Z",
            "statuses": [
                {
                    "sid": "1",
                    "acct": "a",
                    "content": "hi",
                    "created": 1714500000,
                    "favs": "1.5K",
                    "boosts": 0,
                    "replies": [{"rid": "r1", "body": "yo"}, {"body": "no id, skipped"}],
                }
            ],
        }
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(body))
    assert detect_format(path, mapping_paths=[m]) == "mapping:team_export"
    (p,) = list(iter_file(path, mapping_paths=[m]))
    assert isinstance(p, PostRecord) and p.counts.likes == 1500 and p.counts.shares == 0
    assert p.captured_at.isoformat() == "2025-05-01T00:00:00+00:00"
    assert [c.platform_comment_id for c in p.comments] == ["r1"] and p.comments[0].platform_post_id == "1"
