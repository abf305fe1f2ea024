"""Each built-in format on a small synthetic file in the real shape: detection and values."""

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

from .conftest import data

UTC = UTC


def posts(path, **kw):
    return [r for r in iter_file(path, **kw) if isinstance(r, PostRecord)]


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("dataset_linkedin-profile-posts_2025-12-06_11-28-56-790.json", "apify_linkedin_profile_posts"),
        ("dataset_linkedin-company-posts_2025-09-04_13-39-39-919.json", "apify_linkedin_company_posts"),
        ("dataset_linkedin-post-search-scraper_2025-11-15_14-09-43-945.json", "apify_linkedin_post_search"),
        ("dataset_linkedin-profile-posts_2026-06-08_10-29-48-888.json", "linkedin_profile_posts_v2"),
        ("src__data__dataset_linkedin.json", "linkedin_search_no_stats"),
        ("dataset_instagram-scraper_2025-09-04_13-39-02-289.json", "apify_instagram_scraper"),
        ("dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl", "apify_instagram_hashtag"),
        ("instagram_farming_hashtag_stats.json", "instagram_hashtag_stats"),
        ("dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl", "apify_tiktok_scraper"),
        ("recommend_item_list_example.json", "tiktok_web_api"),
        ("dataset_tiktok-comments-scraper_2025-05-25_06-21-26-775.json", "apify_tiktok_comments"),
        ("global_agriculture_tweets.json", "apify_x_tweets"),
        ("threads_posts.json", "threads_posts"),
        ("dataset_instagram-scraper_export.csv", "apify_instagram_scraper"),
    ],
)
def test_detection_by_content(name, fmt, tmp_path):
    assert detect_format(data(name)) == fmt
    # not by file name: the same bytes under a meaningless name are detected the same
    other = tmp_path / "upload.bin"
    other.write_bytes(data(name).read_bytes())
    assert detect_format(other) == fmt
    # and from a sample of the first bytes only
    assert detect_format(other, sample=data(name).read_bytes()[:4096]) == fmt


def test_linkedin_profile_posts():
    recs = list(iter_file(data("dataset_linkedin-profile-posts_2025-12-06_11-28-56-790.json")))
    assert [type(r) for r in recs] == [PostRecord] * 3
    p, repost, ugc = recs
    assert p.platform == "linkedin" and p.platform_post_id == "7400000000000000001"
    assert p.full_urn == "urn:li:ugcPost:7400000000000000000"
    assert p.posted_at == datetime(2025, 12, 5, 13, 37, 10, 371000, tzinfo=UTC)  # timestamp, not local date
    assert not p.posted_at_approximate
    assert p.counts.reactions == 9 and p.counts.likes == 5 and p.counts.comments == 2 and p.counts.shares == 1
    assert p.counts.views is None and p.counts.saves is None
    assert p.platform_stats == {
        "total_reactions": 9,
        "like": 5,
        "support": 0,
        "love": 0,
        "insight": 0,
        "celebrate": 4,
        "funny": 0,
        "comments": 2,
        "reposts": 1,
    }
    assert p.author.username == "jane-example" and p.author.display_name == "Jane Example"
    assert p.author.platform_user_id.startswith("ACoAAFake")
    assert p.hashtags == ["Testing"]
    assert [(m.media_type, m.width) for m in p.media] == [("image", 1080), ("image", 800)]
    assert p.record_index == 0 and p.raw["urn"]["activity_urn"] == "7400000000000000001"
    assert p.captured_at is None  # the file name time is the loader's business
    # a repost describes the original post: its id comes from full_urn / url, not the reposter's activity
    assert repost.platform_post_id == "7300000000000000003" and repost.author.username == "someone-else"
    # a repost of a ugcPost without any activity id keeps the URN itself
    assert ugc.platform_post_id == "urn:li:ugcPost:7000000000000001005"
    assert ugc.author.username == "example-company" and ugc.author.platform_user_id is None
    assert ugc.media[0].media_type == "document"


def test_linkedin_company_posts_sparse_stats_stay_null():
    a, b = posts(data("dataset_linkedin-company-posts_2025-09-04_13-39-39-919.json"))
    assert a.platform_post_id == "7000000000000001018"
    assert a.counts.reactions == 3 and a.counts.likes == 3
    assert a.counts.comments is None and a.counts.shares is None  # omitted keys: NULL, never 0
    assert a.platform_stats == {"total_reactions": 3, "like": 3}  # exactly as given
    assert a.media[0].media_type == "video" and a.media[0].duration_s == 12.0
    assert a.author.username == "acme" and a.author.follower_count == 104
    assert (b.counts.comments, b.counts.shares) == (1, 2)
    assert b.full_urn == "urn:li:activity:7000000000000001020"


def test_linkedin_post_search_with_comments():
    p, company = posts(data("dataset_linkedin-post-search-scraper_2025-11-15_14-09-43-945.json"))
    assert p.platform_post_id == "7000000000000001007" and p.full_urn == "urn:li:activity:7000000000000001007"
    assert p.counts.reactions == 20 and p.counts.likes is None  # numLikes is all reactions
    assert (p.counts.comments, p.counts.shares) == (2, 4)
    assert p.platform_stats == {"numLikes": 20, "numComments": 2, "numShares": 4}
    assert [c.platform_comment_id for c in p.comments] == ["7000000000000001010", "7000000000000001011"]
    assert all(c.platform_post_id == p.platform_post_id for c in p.comments)
    assert p.comments[0].author.username == "sam-roe" and p.comments[1].author is None
    assert p.comments[0].posted_at == datetime.fromtimestamp(1763213074.917, UTC)
    assert (
        p.author.username == "pat-doe"
        and p.author.platform_user_id == "ACoAAFakeProfileId0000000000000000000002"
    )
    assert [m.url for m in p.media] == ["https://media.example/a.jpg", "https://media.example/b.jpg"]
    assert company.author.follower_count == 149998 and company.author.username == "acme-co"
    assert company.author.platform_user_id == "company:100001025"
    assert company.counts.reactions == 0  # present zero stays zero


def test_linkedin_profile_posts_v2_reaction_list():
    p, repost = posts(data("dataset_linkedin-profile-posts_2026-06-08_10-29-48-888.json"))
    assert p.counts.reactions == 44 and p.counts.likes == 43
    assert p.platform_stats["reactions_by_type"] == {"LIKE": 43, "INTEREST": 1}
    assert p.mentions == ["lin-example"] and p.hashtags == ["AI", "business"]
    assert p.posted_at == datetime(2026, 6, 5, 11, 32, 2, 991000, tzinfo=UTC)
    # repost: id of the original post from its URL; LIKE absent from the list -> likes NULL
    assert repost.platform_post_id == "7000000000000001015"
    assert repost.counts.reactions == 7 and repost.counts.likes is None


def test_linkedin_no_stats_all_counts_null():
    a, b = posts(data("src__data__dataset_linkedin.json"))
    assert a.counts.is_empty() and b.counts.is_empty()
    assert a.platform_post_id == "7000000000000001016"
    assert b.author.follower_count == 14000 and b.author.username == "mostly-example"


def test_instagram_scraper_comments_replies_media():
    a, b = posts(data("dataset_instagram-scraper_2025-09-04_13-39-02-289.json"))
    assert a.platform_post_id == "2781942365739423907"  # numeric media id
    assert a.counts.likes == 10 and a.counts.comments == 2 and a.counts.views == 279
    assert a.platform_stats == {"videoViewCount": 9, "videoPlayCount": 279}
    assert a.content_type == "video" and a.post_type == "clips"
    assert [(c.platform_comment_id, c.parent_platform_comment_id) for c in a.comments] == [
        ("10000000000001002", None),
        ("10000000000001003", "10000000000001002"),
    ]
    assert a.comments[0].text == "Nice 😍 مرحبا" and a.comments[0].like_count == 1
    assert a.comments[0].author.username == "fan_one" and a.comments[0].author.is_verified is False
    assert a.media[0].media_type == "video" and a.media[0].url.endswith("0.mp4")
    # hidden likes (-1) are absent, not negative and not zero
    assert b.counts.likes is None
    assert [m.media_type for m in b.media] == ["image", "video"]  # carousel children, no duplicate cover


def test_instagram_hashtag_jsonl_two_runs_and_duplicates():
    day1 = list(iter_file(data("dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl")))
    day2 = list(
        iter_file(data("uploads__intel__dataset_instagram-hashtag-scraper_2025-09-22_11-58-11-805.jsonl"))
    )
    dup = [r for r in day1 if isinstance(r, Rejected)]
    assert len(dup) == 1 and dup[0].kind == "duplicate" and dup[0].record_index == 3
    assert "duplicate of record 0" in dup[0].reason and "identical" in dup[0].reason
    p1 = {p.platform_post_id: p for p in day1 if isinstance(p, PostRecord)}
    p2 = {p.platform_post_id: p for p in day2 if isinstance(p, PostRecord)}
    assert set(p1) == set(p2) and len(p1) == 3
    changed = {k for k in p1 if p1[k].counts != p2[k].counts}
    assert len(changed) == 2


def test_instagram_hashtag_stats_with_nested_posts():
    recs = list(iter_file(data("instagram_farming_hashtag_stats.json")))
    stats = recs[0]
    assert isinstance(stats, HashtagStatsRecord)
    assert stats.name == "farming" and stats.posts_count == 12_280_000 and stats.posts_per_day == 4462
    assert {"hashtag": "#farm", "info": "25.37 m", "group": "related"} in stats.related
    top, latest, bad = recs[1:]
    assert top.counts.likes == 9426 and top.counts.shares == 13648 and top.counts.views == 253261
    assert top.is_sponsored is True
    assert stats.top_post_ids == [top.platform_post_id] and stats.latest_post_ids == [latest.platform_post_id]
    assert isinstance(bad, Rejected) and "latestPosts[1]" in bad.reason and bad.field == "platform_post_id"
    assert [r.record_index for r in recs] == [0, 1, 2, 3]


def test_tiktok_scraper_flattened_keys():
    recs = list(iter_file(data("dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl")))
    a, b, dup = recs
    assert a.platform_post_id == "7000000000000001026" and a.author.username == "beamback"
    assert a.raw["authorMeta"]["name"] == "beamback"  # un-flattened
    assert (a.counts.likes, a.counts.shares, a.counts.views, a.counts.comments, a.counts.saves) == (
        3100000,
        12800,
        30600000,
        10400,
        144800,
    )
    assert a.hashtags == ["fyp", "y2k"] and a.mentions == ["bestie"]
    assert isinstance(dup, Rejected) and dup.kind == "duplicate"


def test_tiktok_web_api_prefers_exact_statsv2():
    a, b = posts(data("recommend_item_list_example.json"))
    assert a.counts.saves == 22289  # statsV2 (exact), not the rounded 22300
    assert a.platform_stats["stats_rounded"] == {"collectCount": 22300}
    assert "stats_mismatch" not in a.platform_stats
    assert a.platform_stats["repostCount"] == 0
    assert a.captured_at == datetime.fromtimestamp(1779355392, UTC)  # extra.now
    assert a.url == "https://www.tiktok.com/@quickmotiv/video/7000000000000001028"
    assert a.author.follower_count == 146412 and a.hashtags == ["motivation"] and a.mentions == ["coach"]
    assert b.is_sponsored is True and b.record_index == 1


def test_tiktok_comments_parent_and_string_counts():
    recs = list(iter_file(data("dataset_tiktok-comments-scraper_2025-05-25_06-21-26-775.json")))
    assert all(isinstance(r, CommentRecord) for r in recs)
    a, reply, c = recs
    assert a.platform_post_id == "7000000000000001031" and a.parent_platform_comment_id is None
    assert a.like_count == 3 and a.reply_count == 1 and a.author.username == "nana"
    assert reply.parent_platform_comment_id == a.platform_comment_id
    assert c.like_count == 1200 and c.reply_count is None


def test_x_tweets():
    a, b = posts(data("global_agriculture_tweets.json"))
    assert a.posted_at == datetime(2025, 6, 21, 18, 5, tzinfo=UTC)
    assert (
        b.counts.likes,
        b.counts.shares,
        b.counts.comments,
        b.counts.quotes,
        b.counts.views,
        b.counts.saves,
    ) == (1500, 30, 7, 2, 98000, 11)
    assert a.hashtags == ["Portugal"] and a.mentions == ["YahooNews"]
    assert a.author.username == "thenews" and a.author.follower_count == 11841
    assert a.media[0].width == 1200


def test_threads_posts_use_unix_time_not_local_string():
    (p,) = posts(data("threads_posts.json"))
    assert p.platform_post_id == "2324143350556659829"
    assert p.posted_at == datetime(2025, 1, 6, 10, 28, 31, tzinfo=UTC)
    assert p.counts.likes == 5 and p.counts.comments == 0 and p.counts.shares is None
    assert p.media[0].media_type == "video"


def test_csv_flattened_columns():
    a, b = posts(data("dataset_instagram-scraper_export.csv"))
    assert a.counts.likes == 1234 and a.counts.views == 1200 and a.counts.comments == 2
    assert a.hashtags == ["food", "cooking"] and a.is_sponsored is False
    assert [c.text for c in a.comments] == ['Nice, "really"', "Second\nline"]
    assert a.comments[1].like_count is None
    assert b.counts.likes is None and b.counts.views is None and b.counts.comments == 0
    assert b.comments == [] and b.text is None and b.is_sponsored is True


def test_relative_posted_time_resolved_against_capture_time(tmp_path):
    import json

    rec = json.loads(data("src__data__dataset_linkedin.json").read_text())[0]
    del rec["postedAtTimestamp"], rec["postedAtISO"]
    path = tmp_path / "dataset_linkedin_2025-06-01_12-00-00-000.json"
    path.write_text(json.dumps([rec]))
    (p,) = posts(path)
    assert p.posted_at_approximate is True
    assert p.posted_at == datetime(2025, 4, 2, 12, tzinfo=UTC)  # file time - "2mo"
    other = tmp_path / "no_time_in_name.json"
    other.write_text(json.dumps([rec]))
    (q,) = posts(other)
    assert q.posted_at is None and not q.posted_at_approximate
    (r,) = posts(other, captured_at=datetime(2025, 6, 1, 12, tzinfo=UTC))
    assert r.posted_at == datetime(2025, 4, 2, 12, tzinfo=UTC) and r.posted_at_approximate


def test_forced_format_and_unknown_forced_name():
    from postpulse.ingest import UnknownFormatError

    recs = list(iter_file(data("threads_posts.json"), format="threads_posts"))
    assert recs[0].format == "threads_posts"
    with pytest.raises(UnknownFormatError) as exc:
        list(iter_file(data("threads_posts.json"), format="nope"))
    assert "--format" in str(exc.value)
