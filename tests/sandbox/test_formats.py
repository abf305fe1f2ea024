"""The JSON endpoints speak the real scrapers' shapes: compared field by field (names, nesting,
value types) with the real files in ../shared/fixtures/real (skipped when absent), plus a
synthetic check of the required fields that runs everywhere."""

from __future__ import annotations

import json
from collections import defaultdict

import httpx
import pytest

from postpulse.sandbox.formats import flatten_item
from postpulse.sandbox.server import SandboxServer
from postpulse.sandbox.world import build_world

from .conftest import FIXED_NOW, real_fixture

LINKEDIN = "Aximande__CVmaker/docMaman__dataset_linkedin-profile-posts_2025-12-06_11-28-56-790.json"
INSTAGRAM = (
    "willem4130__goeduitje-seo-analysis/"
    "socials_scrapes__dataset_instagram-scraper_2025-09-04_13-39-02-289.json"
)
INSTAGRAM_HASHTAG = (
    "Jillian-ignited__Crooks-Command-Center-V2/"
    "dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl"
)
TIKTOK_FLAT = "Jillian-ignited__Crooks-Command-Center-V2/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl"
X = "rasmuskampmann1998__Market-Intelligence-Dashboard/global_agriculture_tweets.json"
THREADS = "lowerzedo__social_apis/threads_posts.json"


@pytest.fixture(scope="module")
def items():
    """All visible posts of the default world, per platform, fetched over HTTP."""
    with SandboxServer(build_world(now=FIXED_NOW), time_scale=0.0) as srv:
        with httpx.Client(base_url=srv.base_url) as c:
            yield {
                p: c.get(f"/api/{p}/posts").json()
                for p in ("linkedin", "instagram", "tiktok", "x", "threads")
            }


def load(path):
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def schema(items):
    """path -> set of type names; list elements are ``path[]``."""
    types: dict[str, set[str]] = defaultdict(set)

    def walk(value, path):
        if isinstance(value, dict):
            for k, v in value.items():
                p = f"{path}.{k}"
                types[p].add(type(v).__name__)
                walk(v, p)
        elif isinstance(value, list):
            for v in value:
                types[f"{path}[]"].add(type(v).__name__)
                walk(v, f"{path}[]")

    for it in items:
        walk(it, "")
    return types


def required_paths(items):
    """Dict paths (not inside lists) present in every item where their parent is present."""
    present: dict[str, int] = defaultdict(int)
    parent_present: dict[str, int] = defaultdict(int)

    def walk(value, path):
        for k, v in value.items():
            p = f"{path}.{k}"
            present[p] += 1
            if isinstance(v, dict):
                walk(v, p)

    for it in items:
        walk(it, "")
    sch = schema(items)
    for it in items:
        for p in list(present):
            parent = p.rsplit(".", 1)[0]
            if parent == "" or _get(it, parent) is not None and isinstance(_get(it, parent), dict):
                parent_present[p] += 1
    return {p for p in present if "[]" not in p and present[p] == parent_present[p] and sch[p]}


def _get(item, path):
    cur = item
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def compare(real_items, ours, *, absent_ok=(), extra_types=None, subset_only=False):
    real_s, our_s = schema(real_items), schema(ours)
    extra_types = extra_types or {}
    problems = []
    if not subset_only:
        for path in sorted(our_s):
            if path not in real_s and path not in extra_types:
                problems.append(f"{path}: not in the real data")
    for path, types in sorted(our_s.items()):
        if path not in real_s and path not in extra_types:
            continue
        allowed = set(real_s.get(path, ())) | set(extra_types.get(path, ()))
        if "float" in allowed:
            allowed.add("int")
        bad = types - allowed
        if bad:
            problems.append(f"{path}: sandbox types {sorted(types)} vs real {sorted(real_s[path])}")
    for path in sorted(required_paths(real_items)):
        if path in absent_ok:
            continue
        for it in ours:
            parent = path.rsplit(".", 1)[0]
            if (parent == "" or isinstance(_get(it, parent), dict)) and _get_present(it, path) is False:
                problems.append(f"{path}: missing from a sandbox item")
                break
    assert not problems, "\n".join(problems)


def _get_present(item, path):
    cur = item
    parts = path.strip(".").split(".")
    for part in parts[:-1]:
        cur = cur.get(part) if isinstance(cur, dict) else None
    return isinstance(cur, dict) and parts[-1] in cur


def test_linkedin_matches_real_profile_posts(items):
    real = load(real_fixture(LINKEDIN))
    real_plain = [{k: v for k, v in it.items() if k not in ("reshared_post", "document")} for it in real]
    compare(real_plain, items["linkedin"])
    kinds = {it.get("media", {}).get("type") for it in items["linkedin"]}
    assert {"image", "video", None} <= kinds


def test_instagram_matches_real_scraper(items):
    ours = items["instagram"]
    compare(load(real_fixture(INSTAGRAM)), ours)
    assert {it["type"] for it in ours} == {"Video", "Image", "Sidecar"}
    compare(load(real_fixture(INSTAGRAM_HASHTAG)), ours, subset_only=True)


def test_tiktok_matches_real_flattened_export(items):
    flat = [flatten_item(it, ["authorMeta", "videoMeta", "musicMeta"]) for it in items["tiktok"]]
    compare(load(real_fixture(TIKTOK_FLAT)), flat, subset_only=True)


def test_x_matches_real_tweet_scraper(items):
    # searchTermIndex only exists for search-term runs; the sandbox scrapes profiles and URLs
    compare(load(real_fixture(X)), items["x"], absent_ok={".searchTermIndex"})


def test_threads_matches_real_posts(items):
    # the real sample has only text/video posts; image posts carry a list of URLs and a count
    compare(
        load(real_fixture(THREADS)),
        items["threads"],
        extra_types={".images": {"list"}, ".image_count": {"int"}, ".images[]": {"str"}},
    )


REQUIRED = {
    "linkedin": {
        "urn",
        "full_urn",
        "posted_at",
        "text",
        "url",
        "post_type",
        "author",
        "stats",
        "pagination_token",
    },
    "instagram": {
        "id",
        "type",
        "shortCode",
        "caption",
        "hashtags",
        "mentions",
        "url",
        "commentsCount",
        "latestComments",
        "likesCount",
        "timestamp",
        "ownerUsername",
        "ownerId",
        "displayUrl",
    },
    "tiktok": {
        "id",
        "text",
        "createTimeISO",
        "diggCount",
        "shareCount",
        "playCount",
        "commentCount",
        "collectCount",
        "authorMeta",
        "webVideoUrl",
        "hashtags",
        "videoMeta",
        "musicMeta",
    },
    "x": {
        "type",
        "id",
        "url",
        "text",
        "createdAt",
        "likeCount",
        "retweetCount",
        "replyCount",
        "quoteCount",
        "viewCount",
        "bookmarkCount",
        "author",
        "entities",
    },
    "threads": {
        "post_id",
        "pk",
        "code",
        "url",
        "user_name",
        "content",
        "published_on",
        "posted_at",
        "reply_count",
        "like_count",
    },
}


def test_required_fields_and_types_without_real_files(items):
    for platform, keys in REQUIRED.items():
        for it in items[platform]:
            assert keys <= set(it), (platform, keys - set(it))
    li = items["linkedin"][0]
    assert set(li["urn"]) == {"activity_urn", "share_urn", "ugcPost_urn"}
    assert set(li["stats"]) == {
        "total_reactions",
        "like",
        "support",
        "love",
        "insight",
        "celebrate",
        "funny",
        "comments",
        "reposts",
    }
    assert li["stats"]["total_reactions"] == sum(
        li["stats"][k] for k in ("like", "support", "love", "insight", "celebrate", "funny")
    )
    assert isinstance(li["posted_at"]["timestamp"], int) and li["full_urn"].startswith("urn:li:")
    x = items["x"][0]
    import re

    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \+0000 \d{4}", x["createdAt"])
    assert isinstance(x["id"], str) and isinstance(x["author"]["userName"], str)
    tt = items["tiktok"][0]
    assert tt["createTimeISO"].endswith(".000Z") and isinstance(tt["authorMeta"]["name"], str)
    ig = items["instagram"][0]
    assert ig["url"].endswith(f"/instagram/p/{ig['shortCode']}/")
    for it in items["instagram"]:
        assert it["hashtags"] == [t for t in it["hashtags"]] and all(
            f"#{t}" in it["caption"] for t in it["hashtags"]
        )
