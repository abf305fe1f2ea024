"""Conformance against the real exports in ../shared/fixtures/real (skipped when absent).

Every stored count is compared with the source value, read here independently with the
stdlib json module."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from postpulse.ingest import (
    CommentRecord,
    HashtagStatsRecord,
    PostRecord,
    Rejected,
    detect_format,
    iter_file,
)

from .conftest import real_file

UTC = UTC


def load(path):
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def run(path):
    recs = list(iter_file(path))
    posts = [r for r in recs if isinstance(r, PostRecord)]
    rejected = [r for r in recs if isinstance(r, Rejected)]
    return recs, posts, rejected


def counts_of(p):
    return {k: v for k, v in p.counts.as_dict().items() if v is not None}


def test_aximande_linkedin_profile_posts():
    path = real_file("Aximande__CVmaker", "*linkedin-profile-posts*.json")
    assert detect_format(path) == "apify_linkedin_profile_posts"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(posts) == len(src) == 50 and not rejected
    for p, s in zip(posts, src, strict=True):
        st = s["stats"]
        assert counts_of(p) == {
            "reactions": st["total_reactions"],
            "likes": st["like"],
            "comments": st["comments"],
            "shares": st["reposts"],
        }
        assert p.platform_stats == st
        assert p.posted_at == datetime.fromtimestamp(s["posted_at"]["timestamp"] / 1000, UTC)
        assert p.full_urn == s["full_urn"] and p.text == s["text"] and p.url == s["url"]
        m = re.search(r"activity-(\d+)", s["url"])
        if m:
            assert p.platform_post_id == m.group(1)
        else:
            assert s["post_type"] == "repost" and p.platform_post_id == s["full_urn"]
        if s["post_type"] != "repost":
            assert p.platform_post_id == s["urn"]["activity_urn"]
    assert len({p.platform_post_id for p in posts}) == 50


def test_willem_linkedin_company_posts_sparse_stats():
    path = real_file("willem4130__goeduitje-seo-analysis", "*linkedin-company-posts*.json")
    assert detect_format(path) == "apify_linkedin_company_posts"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(posts) == 93 and not rejected
    names = {"total_reactions": "reactions", "like": "likes", "comments": "comments", "reposts": "shares"}
    for p, s in zip(posts, src, strict=True):
        expected = {names[k]: v for k, v in s["stats"].items() if k in names}
        assert counts_of(p) == expected  # omitted keys stay NULL
        assert p.platform_stats == s["stats"]
    # the repost and the original it reposts are two records, not a duplicate
    assert len({p.platform_post_id for p in posts}) == 93


def test_labrynna_linkedin_post_search():
    path = real_file("labrynna__Trendix-demo.github.io", "*.json")
    assert detect_format(path) == "apify_linkedin_post_search"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(posts) == 229 and not rejected
    ncomments = 0
    for p, s in zip(posts, src, strict=True):
        assert counts_of(p) == {
            "reactions": s["numLikes"],
            "comments": s["numComments"],
            "shares": s["numShares"],
        }
        assert p.platform_post_id == s["urn"].rsplit(":", 1)[1]
        assert p.posted_at == datetime.fromtimestamp(s["postedAtTimestamp"] / 1000, UTC)
        assert len(p.comments) == len(s["comments"])
        for c, sc in zip(p.comments, s["comments"], strict=True):
            assert c.text == sc["text"] and c.platform_post_id == p.platform_post_id
            assert c.platform_comment_id.isdigit()
        ncomments += len(p.comments)
        if s.get("authorFollowersCount"):
            assert p.author.follower_count == int(s["authorFollowersCount"].replace(",", ""))
    assert ncomments > 300


def test_psaroha_linkedin_profile_posts_v2():
    path = real_file("P-Saroha__NB-MEDIA-LINKEDIN", "*.json")
    assert detect_format(path) == "linkedin_profile_posts_v2"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(posts) == 142 and not rejected
    for p, s in zip(posts, src, strict=True):
        e = s["engagement"]
        by_type = {r["type"]: r["count"] for r in e["reactions"]}
        expected = {"reactions": e["likes"], "comments": e["comments"], "shares": e["shares"]}
        if "LIKE" in by_type:
            expected["likes"] = by_type["LIKE"]
        assert counts_of(p) == expected
        assert p.platform_stats["reactions_by_type"] == by_type
        assert sum(by_type.values()) == p.counts.reactions
        assert p.posted_at == datetime.fromtimestamp(s["postedAt"]["timestamp"] / 1000, UTC)
        if not s.get("repostedBy"):
            assert p.platform_post_id == s["id"]


def test_zrltmu_linkedin_search_without_counts():
    path = real_file("ZRLTMU__esg_linkedin", "*.json")
    assert detect_format(path) == "linkedin_search_no_stats"
    recs, posts, rejected = run(path)
    assert len(posts) == 244 and not rejected
    assert all(p.counts.is_empty() for p in posts)  # no counts at all: NULL, never 0
    assert all(p.posted_at is not None and not p.posted_at_approximate for p in posts)


def test_willem_instagram_scraper():
    path = real_file("willem4130__goeduitje-seo-analysis", "*instagram-scraper*.json")
    assert detect_format(path) == "apify_instagram_scraper"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(posts) == 99 and not rejected
    ncomments = 0
    for p, s in zip(posts, src, strict=True):
        assert p.platform_post_id == s["id"]
        assert p.counts.likes == s["likesCount"] and p.counts.comments == s["commentsCount"]
        assert p.counts.views == s.get("videoPlayCount")
        assert p.platform_stats.get("videoViewCount") == s.get("videoViewCount")
        assert p.hashtags == list(dict.fromkeys(s["hashtags"]))
        n_src = sum(1 + len(c.get("replies") or []) for c in s["latestComments"])
        assert len(p.comments) == n_src
        ncomments += n_src
        for c in p.comments:
            assert c.platform_post_id == p.platform_post_id
    assert ncomments > 0


@pytest.mark.parametrize("pattern", ["dataset_instagram-hashtag*.jsonl", "uploads__*.jsonl"])
def test_jillian_instagram_hashtag_runs(pattern):
    path = real_file("Jillian-ignited__Crooks-Command-Center-V2", pattern)
    assert detect_format(path) == "apify_instagram_hashtag"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(recs) == len(src)
    assert all(r.kind == "duplicate" and "identical" in r.reason for r in rejected)
    assert len(posts) == len({s["url"] for s in src})
    by_url = {s["url"]: s for s in src}
    hidden = 0
    for p in posts:
        s = by_url[p.url]
        # -1 is Instagram's "like count hidden": absent (NULL), not a count
        assert p.counts.likes == (None if s["likesCount"] == -1 else s["likesCount"])
        hidden += s["likesCount"] == -1
        assert p.counts.comments == s["commentsCount"]
        assert p.platform_post_id.isdigit()
    assert hidden > 0


def test_jillian_two_runs_23h_apart_share_77_posts_26_changed():
    a = real_file("Jillian-ignited__Crooks-Command-Center-V2", "dataset_instagram-hashtag*.jsonl")
    b = real_file("Jillian-ignited__Crooks-Command-Center-V2", "uploads__*.jsonl")
    pa = {p.platform_post_id: p for p in iter_file(a) if isinstance(p, PostRecord)}
    pb = {p.platform_post_id: p for p in iter_file(b) if isinstance(p, PostRecord)}
    common = set(pa) & set(pb)
    assert len(common) == 77
    assert sum(1 for k in common if pa[k].counts != pb[k].counts) == 26


def test_rasmus_instagram_hashtag_stats():
    path = real_file("rasmuskampmann1998__Market-Intelligence-Dashboard", "instagram_*.json")
    assert detect_format(path) == "instagram_hashtag_stats"
    (src,) = load(path)
    recs, posts, rejected = run(path)
    assert not rejected
    stats = [r for r in recs if isinstance(r, HashtagStatsRecord)]
    assert len(stats) == 1 and stats[0].posts_count == src["postsCount"] == 12_280_000
    nested = src["topPosts"] + src["latestPosts"]
    assert len(posts) == len(nested) == 53
    for p, s in zip(posts, nested, strict=True):
        assert p.platform_post_id == s["id"]
        assert p.counts.likes == s.get("likesCount") and p.counts.comments == s.get("commentsCount")
        assert p.counts.shares == s.get("reshareCount")
    assert stats[0].top_post_ids == [s["id"] for s in src["topPosts"]]


def test_jillian_tiktok_scraper_flattened():
    path = real_file("Jillian-ignited__Crooks-Command-Center-V2", "dataset_tiktok-scraper*.jsonl")
    assert detect_format(path) == "apify_tiktok_scraper"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(recs) == 16 and len(posts) == 15
    assert [r.kind for r in rejected] == ["duplicate"]
    for p, s in zip(posts, src, strict=False):  # 16 records, 15 posts: the duplicate has none
        assert counts_of(p) == {
            "likes": s["diggCount"],
            "shares": s["shareCount"],
            "views": s["playCount"],
            "comments": s["commentCount"],
            "saves": s["collectCount"],
        }
        assert p.author.username == s["authorMeta.name"]
        assert s["webVideoUrl"].endswith("/" + p.platform_post_id)


def test_kaminski_tiktok_web_api_statsv2_exact():
    for n in (1, 2, 3):
        path = real_file("kaminski-pawel__tiktok-tracker", f"*example{n}.json")
        assert detect_format(path) == "tiktok_web_api"
        src = load(path)
        recs, posts, rejected = run(path)
        assert not rejected and len(posts) == len(src["itemList"])
        for p, s in zip(posts, src["itemList"], strict=True):
            v2 = s["statsV2"]
            assert counts_of(p) == {
                "likes": int(v2["diggCount"]),
                "comments": int(v2["commentCount"]),
                "shares": int(v2["shareCount"]),
                "views": int(v2["playCount"]),
                "saves": int(v2["collectCount"]),
            }
            assert "stats_mismatch" not in p.platform_stats  # stats = rounded statsV2
            assert p.captured_at == datetime.fromtimestamp(src["extra"]["now"] / 1000, UTC)
            assert p.platform_post_id == s["id"]


def test_farrelad_tiktok_comments():
    path = real_file("FarrelAD__Simple-TikTok-Post-Text-Mining", "*.json")
    assert detect_format(path) == "apify_tiktok_comments"
    src = load(path)
    recs = list(iter_file(path))
    assert len(recs) == 500 and all(isinstance(r, CommentRecord) for r in recs)
    for c, s in zip(recs, src, strict=True):
        assert c.platform_comment_id == s["cid"] and c.text == s["text"]
        assert c.like_count == s["diggCount"] and c.reply_count == s["replyCommentTotal"]
        assert c.parent_platform_comment_id == (s["repliesToId"] or None)
        assert s["videoWebUrl"].endswith("/" + c.platform_post_id)


def test_rasmus_x_tweets():
    path = real_file("rasmuskampmann1998__Market-Intelligence-Dashboard", "global_*tweets.json")
    assert detect_format(path) == "apify_x_tweets"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(posts) == 107 and not rejected
    for p, s in zip(posts, src, strict=True):
        assert counts_of(p) == {
            "likes": s["likeCount"],
            "shares": s["retweetCount"],
            "comments": s["replyCount"],
            "quotes": s["quoteCount"],
            "views": s["viewCount"],
            "saves": s["bookmarkCount"],
        }
        assert p.platform_post_id == s["id"]
        assert p.posted_at == datetime.strptime(s["createdAt"], "%a %b %d %H:%M:%S %z %Y")


def test_lowerzedo_threads():
    path = real_file("lowerzedo__social_apis", "threads_posts.json")
    assert detect_format(path) == "threads_posts"
    src = load(path)
    recs, posts, rejected = run(path)
    assert len(posts) == 10 and not rejected
    for p, s in zip(posts, src, strict=True):
        assert p.platform_post_id == s["pk"]
        assert counts_of(p) == {"likes": s["like_count"], "comments": s["reply_count"]}
        assert p.posted_at == datetime.fromtimestamp(s["published_on"], UTC)


def test_every_real_file_is_recognised():
    from .conftest import REAL

    if not REAL.is_dir():
        pytest.skip(f"real fixtures folder {REAL} is absent")
    files = sorted(p for p in REAL.glob("*/*") if p.suffix in (".json", ".jsonl"))
    assert len(files) >= 16
    formats = Counter(detect_format(p) for p in files)
    assert len(formats) >= 13
