"""The built-in Bluesky mappings on AppView answers (postView records, a getAuthorFeed answer)."""

import json

from postpulse.ingest import CommentRecord, PostRecord, detect_format, iter_file

POST = {
    "uri": "at://did:plc:abc/app.bsky.feed.post/3kxyz",
    "cid": "bafy1",
    "author": {"did": "did:plc:abc", "handle": "alice.test", "displayName": "Alice", "followersCount": 3},
    "record": {
        "$type": "app.bsky.feed.post",
        "text": "hello #demo @bob.test",
        "createdAt": "2026-12-07T02:00:00Z",
    },
    "embed": {"$type": "app.bsky.embed.images#view", "images": [{"thumb": "t", "fullsize": "f", "alt": "a"}]},
    "replyCount": 1,
    "repostCount": 2,
    "likeCount": 5,
    "quoteCount": 0,
    "indexedAt": "2026-12-07T02:00:01Z",
    "replies": [
        {
            "uri": "at://did:plc:bob/app.bsky.feed.post/3kr",
            "author": {"did": "did:plc:bob", "handle": "bob.test"},
            "record": {
                "text": "nice",
                "createdAt": "2026-12-07T02:01:00Z",
                "reply": {
                    "root": {"uri": "at://did:plc:abc/app.bsky.feed.post/3kxyz"},
                    "parent": {"uri": "at://did:plc:abc/app.bsky.feed.post/3kxyz"},
                },
            },
            "likeCount": 1,
        }
    ],
}


def test_postview_records(tmp_path):
    f = tmp_path / "posts.jsonl"
    f.write_text(json.dumps(POST) + "\n")
    assert detect_format(f) == "bluesky_posts"
    (post,) = [r for r in iter_file(f) if isinstance(r, PostRecord)]
    assert post.platform == "bluesky" and post.platform_post_id == POST["uri"]
    assert post.url == "https://bsky.app/profile/did:plc:abc/post/3kxyz"
    assert (post.counts.likes, post.counts.comments, post.counts.shares, post.counts.quotes) == (5, 1, 2, 0)
    assert post.hashtags == ["demo"] and post.mentions == ["bob.test"]
    assert post.author.platform_user_id == "did:plc:abc" and post.author.follower_count == 3
    assert [m.url for m in post.media] == ["f"]
    (reply,) = post.comments
    assert isinstance(reply, CommentRecord) and reply.text == "nice" and reply.like_count == 1


def test_author_feed_answer(tmp_path):
    f = tmp_path / "feed.json"
    f.write_text(json.dumps({"feed": [{"post": POST}], "cursor": "x"}))
    assert detect_format(f) == "bluesky_author_feed"
    (post,) = [r for r in iter_file(f) if isinstance(r, PostRecord)]
    assert post.platform_post_id == POST["uri"] and post.counts.likes == 5
