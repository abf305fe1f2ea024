"""Every content type a format carries is stored as such, not as 'unknown'."""

from __future__ import annotations

import json

import pytest

from postpulse.ingest import PostRecord, iter_file
from postpulse.ingest.parsers.content_types import content_type_from_media, normalize_content_type
from postpulse.ingest.staging import CONTENT_TYPES

from .conftest import data, real_file


@pytest.mark.parametrize(
    "name, stored",
    [
        ("linkedinVideo", "video"),
        ("image", "image"),
        ("article", "article"),
        ("document", "document"),
        ("poll", "poll"),
        ("text", "text"),
        ("images", "carousel"),
        ("Sidecar", "carousel"),
        ("Video", "video"),
        ("animated_gif", "video"),
        ("photo", "image"),
        ("clips", "reel"),
        ("celebration", None),
        (None, None),
    ],
)
def test_names_formats_use(name, stored):
    assert normalize_content_type(name) == stored
    assert stored is None or stored in CONTENT_TYPES


@pytest.mark.parametrize(
    "media, stored",
    [
        ([], "text"),
        (["photo"], "image"),
        (["photo", "photo"], "carousel"),
        (["video"], "video"),
        (["animated_gif"], "video"),
        (["photo", "video"], "mixed"),
        (["document"], "document"),
    ],
)
def test_from_media(media, stored):
    assert content_type_from_media(media) == stored


def _one(tmp_path, name, records):
    f = tmp_path / name
    f.write_text(json.dumps(records))
    return [r for r in iter_file(f) if type(r) is PostRecord]


def test_linkedin_search_types(tmp_path):
    base = json.loads(data("dataset_linkedin-post-search-scraper_2025-11-15_14-09-43-945.json").read_text())[
        0
    ]
    recs = []
    for i, t in enumerate(["linkedinVideo", "article", "document", "poll", "text", "image"]):
        rec = {**base, "type": t, "urn": f"urn:li:activity:71{i:017d}", "url": None}
        recs.append(rec)
    got = [r.content_type for r in _one(tmp_path, "search.json", recs)]
    assert got == ["video", "article", "document", "poll", "text", "image"]


def test_x_posts_with_media(tmp_path):
    base = json.loads(data("global_agriculture_tweets.json").read_text())[1]
    base.pop("extendedEntities", None)

    def media(*kinds):
        return {
            "media": [
                {"type": k, "media_url_https": f"https://pbs.twimg.com/{i}.jpg"} for i, k in enumerate(kinds)
            ]
        }

    recs = [
        {**base, "id": "101"},
        {**base, "id": "102", "extendedEntities": media("photo")},
        {**base, "id": "103", "extendedEntities": media("photo", "photo")},
        {**base, "id": "104", "extendedEntities": media("video")},
        {**base, "id": "105", "extendedEntities": media("animated_gif")},
    ]
    got = [r.content_type for r in _one(tmp_path, "tweets.json", recs)]
    assert got == ["text", "image", "carousel", "video", "video"]


def test_tiktok_videos_and_slideshows(tmp_path):
    f = data("dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl")
    first = json.loads(f.read_text().splitlines()[0])
    recs = [first, {**first, "id": "7387791587394325999", "isSlideshow": True}]
    got = [r.content_type for r in _one(tmp_path, "tiktok.json", recs)]
    assert got == ["video", "carousel"]


def test_no_real_export_stores_unknown_where_the_format_says_the_type():
    for folder, pattern in [
        ("labrynna__Trendix-demo.github.io", "*.json"),
        ("rasmuskampmann1998__Market-Intelligence-Dashboard", "global_agriculture_tweets.json"),
        ("willem4130__goeduitje-seo-analysis", "*instagram-scraper*"),
        ("Aximande__CVmaker", "*.json"),
    ]:
        path = real_file(folder, pattern)
        types = [r.content_type for r in iter_file(path) if type(r) is PostRecord]
        assert types and all(t in CONTENT_TYPES and t != "unknown" for t in types), (folder, set(types))
