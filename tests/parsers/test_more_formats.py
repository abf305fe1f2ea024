"""Built-in formats that need no mapping: the Apify YouTube scraper, the Apify Facebook posts
scraper, yt-dlp info JSON (YouTube and TikTok), and any known format wrapped in a key of a JSON
object. The records below are invented, in the shapes the tools write (sources cited)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from postpulse.ingest import PostRecord, UnknownFormatError, detect_format, iter_file

# streamers/youtube-scraper items: the fields of its dataset schema
# (https://apify.com/streamers/youtube-scraper, output "Overview": id, title, url, viewCount,
# likes, commentsCount, date, channelName, channelUrl, numberOfSubscribers, duration, ...)
YOUTUBE = {
    "title": "Scraping 101 #python",
    "type": "video",
    "id": "Ab3dEfGh1Jk",
    "url": "https://www.youtube.com/watch?v=Ab3dEfGh1Jk",
    "thumbnailUrl": "https://i.ytimg.com/vi/Ab3dEfGh1Jk/maxresdefault.jpg",
    "viewCount": 18234,
    "date": "2025-05-06T13:01:57.000Z",
    "likes": 412,
    "location": None,
    "channelName": "Demo Channel",
    "channelUrl": "https://www.youtube.com/@demochannel",
    "channelId": "UCdemo000000000000000001",
    "numberOfSubscribers": 11200,
    "duration": "00:03:25",
    "commentsCount": 37,
    "text": "A description",
    "hashtags": ["#python", "#scraping"],
    "commentsTurnedOff": False,
    "isMonetized": None,
    "fromYTUrl": "https://www.youtube.com/@demochannel/videos",
}

# apify/facebook-posts-scraper items (https://apify.com/apify/facebook-posts-scraper, output
# example: facebookUrl, postId, pageName, url, time, timestamp, user{}, text, likes, comments,
# shares, topReactionsCount, reaction*Count, media[] with __typename and photo_image)
FACEBOOK = {
    "facebookUrl": "https://www.facebook.com/demopage",
    "postId": "1220007700156055",
    "pageName": "demopage",
    "url": "https://www.facebook.com/demopage/posts/pfbid02RQFkBznr3x9MwKvPeBh2VH",
    "time": "2025-04-02T09:15:00.000Z",
    "timestamp": 1743585300,
    "user": {"id": "100064000000001", "name": "Demo Page", "profileUrl": "https://www.facebook.com/demopage"},
    "text": "Spring menu is here #food",
    "likes": 240,
    "comments": 18,
    "shares": 5,
    "topReactionsCount": 2,
    "reactionLikeCount": 200,
    "reactionLoveCount": 40,
    "media": [
        {
            "__typename": "Photo",
            "thumbnail": "https://scontent.example/t.jpg",
            "photo_image": {"uri": "https://scontent.example/p.jpg", "height": 720, "width": 960},
        }
    ],
}

# yt-dlp --dump-json (fields of its README, "OUTPUT TEMPLATE": id, title, upload_date YYYYMMDD,
# timestamp, view_count, like_count, comment_count, repost_count, channel, channel_id,
# channel_follower_count, uploader_id, webpage_url, extractor_key, duration, thumbnail)
YTDLP_YOUTUBE = {
    "id": "Zx9yW8vU7tS",
    "title": "Field day",
    "description": "We went out #farm",
    "upload_date": "20250314",
    "duration": 612,
    "view_count": 90210,
    "like_count": 3100,
    "comment_count": 120,
    "channel": "Farm Life",
    "channel_id": "UCfarm0000000000000000001",
    "channel_url": "https://www.youtube.com/channel/UCfarm0000000000000000001",
    "channel_follower_count": 45000,
    "uploader_id": "@farmlife",
    "tags": ["farm", "tractor"],
    "thumbnail": "https://i.ytimg.com/vi/Zx9yW8vU7tS/maxresdefault.jpg",
    "webpage_url": "https://www.youtube.com/watch?v=Zx9yW8vU7tS",
    "extractor": "youtube",
    "extractor_key": "Youtube",
    "_type": "video",
}
YTDLP_TIKTOK = {
    "id": "7387791587394325766",
    "title": "cows at dawn",
    "timestamp": 1751000000,
    "upload_date": "20250627",
    "view_count": 5000,
    "like_count": 410,
    "comment_count": 12,
    "repost_count": 9,
    "uploader": "farmer.jo",
    "uploader_id": "6812345678901234567",
    "channel": "Jo",
    "webpage_url": "https://www.tiktok.com/@farmer.jo/video/7387791587394325766",
    "extractor": "TikTok",
    "extractor_key": "TikTok",
}


def write(tmp_path, name, data, jsonl=False):
    f = tmp_path / name
    if jsonl:
        f.write_text("".join(json.dumps(r) + "\n" for r in data))
    else:
        f.write_text(json.dumps(data, indent=1))
    return f


def posts(path, **kw):
    recs = list(iter_file(path, **kw))
    assert all(type(r) is PostRecord for r in recs), recs
    return recs


def test_apify_youtube_scraper(tmp_path):
    f = write(tmp_path, "yt.json", [YOUTUBE, {**YOUTUBE, "id": "Zz9dEfGh1Jk", "date": "3 weeks ago"}])
    assert detect_format(f) == "apify_youtube_scraper"
    a, b = posts(f, captured_at=datetime(2025, 6, 1, tzinfo=UTC))
    assert (a.platform, a.platform_post_id, a.content_type) == ("youtube", "Ab3dEfGh1Jk", "video")
    assert (a.counts.views, a.counts.likes, a.counts.comments) == (18234, 412, 37)
    assert a.posted_at == datetime(2025, 5, 6, 13, 1, 57, tzinfo=UTC) and not a.posted_at_approximate
    assert a.author.username == "@demochannel" and a.author.follower_count == 11200
    assert a.hashtags == ["python", "scraping"] and a.media[0].duration_s == 205.0
    assert b.posted_at_approximate and b.posted_at == datetime(2025, 5, 11, tzinfo=UTC)


def test_apify_youtube_scraper_csv_matches_json(tmp_path):
    import csv

    f = tmp_path / "yt.csv"
    row = {k: ("" if v is None else v) for k, v in YOUTUBE.items() if not isinstance(v, list)}
    with f.open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(row))
        w.writeheader()
        w.writerow(row)
    (c,) = posts(f)
    (j,) = posts(write(tmp_path, "yt.json", [YOUTUBE]))
    assert c.format == j.format == "apify_youtube_scraper"
    assert (c.counts, c.posted_at, c.platform_post_id) == (j.counts, j.posted_at, j.platform_post_id)


def test_apify_facebook_posts(tmp_path):
    f = write(tmp_path, "fb.json", [FACEBOOK, {**FACEBOOK, "postId": "1220007700156056", "media": []}])
    assert detect_format(f) == "apify_facebook_posts"
    a, b = posts(f)
    assert (a.platform, a.platform_post_id, a.author.username) == ("facebook", "1220007700156055", "demopage")
    assert (a.counts.reactions, a.counts.likes, a.counts.comments, a.counts.shares) == (240, 200, 18, 5)
    assert a.posted_at == datetime(2025, 4, 2, 9, 15, tzinfo=UTC)
    assert a.content_type == "image" and a.media[0].width == 960 and a.hashtags == ["food"]
    assert b.content_type == "text"


def test_ytdlp_jsonl_youtube_and_tiktok(tmp_path):
    f = write(tmp_path, "dump.jsonl", [YTDLP_YOUTUBE, YTDLP_TIKTOK], jsonl=True)
    assert detect_format(f) == "ytdlp_info"
    yt, tt = posts(f)
    assert (yt.platform, yt.platform_post_id, yt.author.platform) == ("youtube", "Zx9yW8vU7tS", "youtube")
    assert yt.posted_at == datetime(2025, 3, 14, tzinfo=UTC)  # upload_date YYYYMMDD
    assert (yt.counts.views, yt.counts.likes, yt.counts.comments) == (90210, 3100, 120)
    assert yt.author.follower_count == 45000 and yt.content_type == "video"
    assert (tt.platform, tt.platform_post_id, tt.author.username, tt.author.platform_user_id) == (
        "tiktok",
        "7387791587394325766",
        "farmer.jo",
        "6812345678901234567",
    )
    assert tt.posted_at == datetime.fromtimestamp(1751000000, UTC)  # timestamp preferred
    assert (tt.counts.views, tt.counts.likes, tt.counts.comments, tt.counts.shares) == (5000, 410, 12, 9)


def test_ytdlp_single_info_json_and_playlist(tmp_path):
    single = write(tmp_path, "Zx9yW8vU7tS.info.json", YTDLP_YOUTUBE)
    (p,) = posts(single)
    assert p.format == "ytdlp_info" and p.platform_post_id == "Zx9yW8vU7tS"
    playlist = {
        "_type": "playlist",
        "id": "UCfarm0000000000000000001",
        "title": "Farm Life - Videos",
        "extractor_key": "YoutubeTab",
        "webpage_url": "https://www.youtube.com/@farmlife/videos",
        "view_count": 1,
        "entries": [YTDLP_YOUTUBE, {**YTDLP_YOUTUBE, "id": "Qq1yW8vU7tS"}],
    }
    f = write(tmp_path, "channel.json", playlist)
    assert [r.platform_post_id for r in posts(f)] == ["Zx9yW8vU7tS", "Qq1yW8vU7tS"]


def test_ytdlp_flat_playlist(tmp_path):
    """``yt-dlp --flat-playlist -J``: entries of ``_type`` url with ``ie_key``, views, no date."""
    flat = {
        "_type": "url",
        "ie_key": "Youtube",
        "id": "Zx9yW8vU7tS",
        "url": "https://www.youtube.com/watch?v=Zx9yW8vU7tS",
        "title": "Field day",
        "duration": 612.0,
        "channel_id": "UCfarm0000000000000000001",
        "channel": "Farm Life",
        "view_count": 90210,
    }
    playlist = {"_type": "playlist", "id": "UCfarm", "extractor_key": "YoutubeTab", "entries": [flat]}
    f = write(tmp_path, "flat.json", playlist)
    (p,) = posts(f)
    assert (p.format, p.platform, p.platform_post_id, p.counts.views) == (
        "ytdlp_flat",
        "youtube",
        "Zx9yW8vU7tS",
        90210,
    )
    assert p.posted_at is None
    g = write(tmp_path, "flat.jsonl", [flat, {**flat, "id": "Qq1yW8vU7tS"}], jsonl=True)
    assert [r.platform_post_id for r in posts(g)] == ["Zx9yW8vU7tS", "Qq1yW8vU7tS"]


@pytest.mark.parametrize("key", ["videos", "all_videos", "data.items"])
def test_known_format_wrapped_in_a_key(tmp_path, key):
    records = [YOUTUBE, {**YOUTUBE, "id": "Zz9dEfGh1Jk"}]
    outer: dict = {"meta": {"count": 2, "list": [1, 2]}}
    node = outer
    *parents, last = key.split(".")
    for k in parents:
        node = node.setdefault(k, {})
    node[last] = records
    for indent in (None, 1):  # one line (read as one document), and pretty-printed
        f = tmp_path / f"wrapped_{indent}.json"
        f.write_text(json.dumps(outer, indent=indent))
        assert detect_format(f) == "apify_youtube_scraper"
        assert [r.platform_post_id for r in posts(f)] == ["Ab3dEfGh1Jk", "Zz9dEfGh1Jk"]
        assert [r.platform_post_id for r in posts(f, format="apify_youtube_scraper")] == [
            "Ab3dEfGh1Jk",
            "Zz9dEfGh1Jk",
        ]


def test_large_wrapped_object_streams(tmp_path):
    rec = {**YOUTUBE, "text": "x" * 20_000}
    n = 1200  # ~24 MB: more than one record may be, so it is read by key, streaming
    f = tmp_path / "big.json"
    with f.open("w") as fh:
        fh.write('{"note": "export", "videos": [')
        for i in range(n):
            fh.write(("," if i else "") + json.dumps({**rec, "id": f"v{i:010d}"}))
        fh.write("]}")
    recs = list(iter_file(f))
    assert len(recs) == n and recs[-1].platform_post_id == f"v{n - 1:010d}"


def test_unknown_object_names_the_lists_and_suggests_items(tmp_path):
    f = write(
        tmp_path, "export.json", {"meta": {"n": 2}, "results": {"rows": [{"a": 1}, {"a": 2}]}, "tags": ["x"]}
    )
    with pytest.raises(UnknownFormatError) as exc:
        detect_format(f)
    msg = str(exc.value)
    assert "'results.rows'" in msg and 'items = "results.rows"' in msg and "tags" not in msg.split("Known")[0]


def test_the_youtube_example_mapping_is_not_needed_for_apify_output(tmp_path):
    f = write(tmp_path, "yt.jsonl", [copy.deepcopy(YOUTUBE)], jsonl=True)
    assert detect_format(f) == "apify_youtube_scraper"
