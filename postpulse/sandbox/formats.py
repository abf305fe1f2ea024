"""Scraper-format JSON for sandbox posts: the shapes real scrapers return.

One function per platform turns a :class:`~postpulse.sandbox.world.Post` into the item a real
scraper would emit, with the same field names, nesting and value types as the real files in
``../shared/fixtures/real/``:

* ``linkedin``: Apify ``apimaestro~linkedin-profile-posts`` (``urn{activity_urn,share_urn,
  ugcPost_urn}``, ``full_urn``, ``posted_at{date,relative,timestamp}``, ``stats{...}``, ...);
* ``instagram``: ``apify~instagram-scraper`` (``likesCount``, ``commentsCount``, ``latestComments``...);
* ``tiktok``: ``clockworks~tiktok-scraper`` (``diggCount``, ``playCount``, ``authorMeta{...}``...),
  nested; ask the dataset endpoint for ``flatten=authorMeta,musicMeta,videoMeta`` to get the
  dotted keys of the flattened exports;
* ``x``: ``apidojo~tweet-scraper`` (``likeCount``, ``retweetCount``, ``createdAt`` in X's
  ``"Sat Jun 21 18:05:00 +0000 2025"`` format, ``author{userName,...}``);
* ``threads``: the Threads post shape (``pk``, ``code``, ``like_count``, ``reply_count``...).

Counts are those at the sandbox time ``now``. Links (``url``, ``webVideoUrl``...) point at the
sandbox's own pages under ``base`` (e.g. ``http://127.0.0.1:8765/instagram/p/<shortCode>/``),
with the same path shapes as the real sites, so a browser can open them. Dates are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .world import COMMENT_METRIC, Comment, Post, Profile, World, ig_shortcode, pagination_token

ITEM_BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {}


def _register(platform: str):
    def deco(fn):
        ITEM_BUILDERS[platform] = fn
        return fn

    return deco


def item_for(world: World, post: Post, now: datetime, base: str) -> dict[str, Any]:
    """The scraper item of ``post`` in its platform's shape, with counts at ``now``."""
    return ITEM_BUILDERS[post.platform](world, post, now, base.rstrip("/"))


# ---------------------------------------------------------------------------------- helpers


def iso_z(dt: datetime) -> str:
    """``2025-07-11T10:18:29.000Z`` (Apify's timestamps)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def x_date(dt: datetime) -> str:
    """X's ``createdAt``: ``Sat Jun 21 18:05:00 +0000 2025``."""
    return dt.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")


def relative(dt: datetime, now: datetime) -> str:
    """LinkedIn's relative age: ``21 hours ago``, ``1 week ago``, ``3 months ago``."""
    s = max(0.0, (now - dt).total_seconds())
    for unit, size in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("week", 7 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if s >= size:
            n = int(s // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "Just now"


def media_url(base: str, platform: str, media_id: str, kind: str = "image") -> str:
    return f"{base}/media/{platform}/{media_id}.{'mp4' if kind == 'video' else 'svg'}"


def avatar_url(base: str, prof: Profile) -> str:
    return f"{base}/media/{prof.platform}/avatar-{prof.username}.svg"


def linkedin_post_path(post: Post) -> str:
    slug_words = "-".join(post.hashtags[:3]).lower() or "update"
    slug_words = re.sub(r"[^a-z0-9-]", "", slug_words) or "update"
    return (
        f"/linkedin/posts/{post.author}_{slug_words}-activity-{post.ids['activity_urn']}"
        f"-{post.ids['slug_suffix']}"
    )


def post_path(post: Post) -> str:
    """The sandbox page of a post, shaped like the real site's URL."""
    p = post.platform
    if p == "linkedin":
        return linkedin_post_path(post)
    if p == "instagram":
        return f"/instagram/p/{post.ids['shortcode']}/"
    if p == "tiktok":
        return f"/tiktok/@{post.author}/video/{post.post_id}"
    if p == "x":
        return f"/x/{post.author}/status/{post.post_id}"
    return f"/threads/@{post.author}/post/{post.ids['code']}"


def profile_path(prof: Profile) -> str:
    p = prof.platform
    if p == "linkedin":
        return f"/linkedin/in/{prof.username}/"
    if p == "instagram":
        return f"/instagram/{prof.username}/"
    if p in ("tiktok", "threads"):
        return f"/{p}/@{prof.username}"
    return f"/x/{prof.username}"


def _visible_comments(
    world: World, post: Post, now: datetime
) -> tuple[list[Comment], dict[str, list[Comment]]]:
    allc = world.comments_for(post.platform, post.post_id, now)
    top = [c for c in allc if c.parent_id is None]
    replies: dict[str, list[Comment]] = {}
    for c in allc:
        if c.parent_id:
            replies.setdefault(c.parent_id, []).append(c)
    return top, replies


# ---------------------------------------------------------------------------------- linkedin


@_register("linkedin")
def linkedin_item(world: World, post: Post, now: datetime, base: str) -> dict[str, Any]:
    prof = world.profiles["linkedin"][post.author]
    m = world.metrics(post, now)
    item: dict[str, Any] = {
        "urn": {
            "activity_urn": post.ids["activity_urn"],
            "share_urn": post.ids["share_urn"],
            "ugcPost_urn": post.ids["ugcPost_urn"],
        },
        "full_urn": post.ids["full_urn"],
        "posted_at": {
            "date": post.posted_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "relative": f"{relative(post.posted_at, now)} • Visible to anyone on or off LinkedIn",
            "timestamp": int(post.posted_at.timestamp() * 1000),
        },
        "text": post.text,
        "url": base + linkedin_post_path(post),
        "post_type": post.post_type,
        "author": {
            "first_name": prof.first_name,
            "last_name": prof.last_name,
            "headline": prof.headline,
            "username": prof.username,
            "profile_url": f"{base}/linkedin/in/{prof.username}/",
            "profile_picture": avatar_url(base, prof),
        },
        "stats": {
            "total_reactions": m["total_reactions"],
            "like": m["like"],
            "support": m["support"],
            "love": m["love"],
            "insight": m["insight"],
            "celebrate": m["celebrate"],
            "funny": m["funny"],
            "comments": m["comments"],
            "reposts": m["reposts"],
        },
    }
    if post.media:
        first = post.media[0]
        if first.kind == "video":
            item["media"] = {"type": "video", "url": media_url(base, "linkedin", first.media_id, "video")}
        else:
            images = [
                {"url": media_url(base, "linkedin", x.media_id), "width": x.width, "height": x.height}
                for x in post.media
            ]
            item["media"] = {
                "type": "images" if len(images) > 1 else "image",
                "url": images[0]["url"],
                "images": images,
            }
    item["pagination_token"] = pagination_token(post)
    return item


# ---------------------------------------------------------------------------------- instagram


def _ig_comment(world: World, c: Comment, replies: list[Comment], base: str) -> dict[str, Any]:
    prof = world.profiles[c.platform].get(c.author)
    pic = avatar_url(base, prof) if prof else f"{base}/media/{c.platform}/avatar-unknown.svg"
    return {
        "id": c.comment_id,
        "text": c.text,
        "ownerUsername": c.author,
        "ownerProfilePicUrl": pic,
        "timestamp": iso_z(c.created_at),
        "repliesCount": len(replies),
        "replies": [_ig_comment(world, r, [], base) for r in replies],
        "likesCount": c.likes,
        "owner": {
            "id": prof.user_id if prof else "0",
            "is_verified": bool(prof and prof.verified),
            "profile_pic_url": pic,
            "username": c.author,
        },
    }


@_register("instagram")
def instagram_item(world: World, post: Post, now: datetime, base: str) -> dict[str, Any]:
    prof = world.profiles["instagram"][post.author]
    m = world.metrics(post, now)
    top, replies = _visible_comments(world, post, now)
    latest = [_ig_comment(world, c, replies.get(c.comment_id, []), base) for c in top[-10:]]
    first = post.media[0] if post.media else None
    is_video = bool(first and first.kind == "video")
    kind = "Video" if is_video else ("Sidecar" if len(post.media) > 1 else "Image")
    url = f"{base}/instagram/p/{post.ids['shortcode']}/"
    display = media_url(base, "instagram", first.media_id) if first else ""
    item: dict[str, Any] = {
        "id": post.post_id,
        "type": kind,
        "shortCode": post.ids["shortcode"],
        "caption": post.text,
        "hashtags": post.hashtags,
        "mentions": post.mentions,
        "url": url,
        "commentsCount": m["comments"],
        "firstComment": top[0].text if top else "",
        "latestComments": latest,
        "dimensionsHeight": first.height if first else 1080,
        "dimensionsWidth": first.width if first else 1080,
        "displayUrl": display,
        "images": [media_url(base, "instagram", x.media_id) for x in post.media] if kind == "Sidecar" else [],
    }
    if is_video:
        item["videoUrl"] = media_url(base, "instagram", first.media_id, "video")
    item["likesCount"] = m["likes"]
    if is_video:
        item["videoViewCount"] = m.get("views", 0)
    item["timestamp"] = iso_z(post.posted_at)
    children = []
    if kind == "Sidecar":
        for x in post.media:
            children.append(
                {
                    "id": str(int(post.post_id) + len(children) + 1),
                    "type": "Image",
                    "caption": "",
                    "hashtags": [],
                    "mentions": [],
                    "url": url,
                    "commentsCount": 0,
                    "firstComment": "",
                    "latestComments": [],
                    "dimensionsHeight": x.height,
                    "dimensionsWidth": x.width,
                    "displayUrl": media_url(base, "instagram", x.media_id),
                    "images": [],
                    "alt": x.alt,
                    "likesCount": None,
                    "timestamp": None,
                    "childPosts": [],
                    "ownerId": None,
                    "shortCode": ig_shortcode(int(post.post_id) + len(children) + 1)[:11],
                }
            )
    item["childPosts"] = children
    item["ownerFullName"] = prof.display_name
    item["ownerUsername"] = prof.username
    item["ownerId"] = prof.user_id
    if is_video:
        item["productType"] = "clips"
    item["isCommentsDisabled"] = False
    item["inputUrl"] = f"{base}/instagram/{prof.username}"
    item["alt"] = None if is_video else (first.alt if first else None)
    if is_video:
        item["videoPlayCount"] = m.get("plays", 0)
        item["videoDuration"] = float(first.duration or 0.0)
    item["isSponsored"] = False
    if is_video:
        item["musicInfo"] = {
            "artist_name": prof.username,
            "song_name": "Original audio",
            "uses_original_audio": True,
            "should_mute_audio": False,
            "should_mute_audio_reason": "",
            "audio_id": str(int(post.post_id) // 1000),
        }
    return item


# ---------------------------------------------------------------------------------- tiktok


@_register("tiktok")
def tiktok_item(world: World, post: Post, now: datetime, base: str) -> dict[str, Any]:
    prof = world.profiles["tiktok"][post.author]
    m = world.metrics(post, now)
    video = post.media[0] if post.media else None
    web = f"{base}/tiktok/@{prof.username}/video/{post.post_id}"
    return {
        "id": post.post_id,
        "text": post.text,
        "textLanguage": "en",
        "createTime": int(post.posted_at.timestamp()),
        "createTimeISO": iso_z(post.posted_at),
        "isAd": False,
        "authorMeta": {
            "id": prof.user_id,
            "name": prof.username,
            "profileUrl": f"{base}/tiktok/@{prof.username}",
            "nickName": prof.display_name,
            "verified": prof.verified,
            "signature": prof.bio,
            "bioLink": None,
            "avatar": avatar_url(base, prof),
            "privateAccount": False,
            "following": world.following_count(prof),
            "fans": world.follower_count(prof),
            "heart": prof.base_followers * 7,
            "video": len(world.visible_posts("tiktok", now, prof.username)),
            "digg": prof.base_following * 3,
        },
        "musicMeta": {
            "musicName": f"original sound - {prof.username}",
            "musicAuthor": prof.display_name,
            "musicOriginal": True,
            "playUrl": f"{base}/media/tiktok/{video.media_id if video else post.post_id}.mp3",
            "coverMediumUrl": avatar_url(base, prof),
            "musicId": str(int(post.post_id) // 7),
        },
        "webVideoUrl": web,
        "mediaUrls": [media_url(base, "tiktok", video.media_id, "video")] if video else [],
        "videoMeta": {
            "height": video.height if video else 1920,
            "width": video.width if video else 1080,
            "duration": int(round(video.duration or 0)) if video else 0,
            "coverUrl": media_url(base, "tiktok", video.media_id) if video else "",
            "definition": "720p",
            "format": "mp4",
        },
        "diggCount": m["likes"],
        "shareCount": m["shares"],
        "playCount": m["plays"],
        "collectCount": m["saves"],
        "commentCount": m["comments"],
        "mentions": [f"@{x}" for x in post.mentions],
        "hashtags": [{"name": t} for t in post.hashtags],
        "isSlideshow": False,
        "isPinned": False,
        "isSponsored": False,
        "input": prof.username,
    }


def tiktok_comment_item(world: World, c: Comment, post: Post, base: str) -> dict[str, Any]:
    """A ``clockworks~tiktok-comments-scraper`` item."""
    prof = world.profiles["tiktok"].get(c.author)
    web = f"{base}/tiktok/@{post.author}/video/{post.post_id}"
    n_replies = sum(
        1 for r in world.comments["tiktok"].values() if r.parent_id == c.comment_id and not r.deleted
    )
    return {
        "videoWebUrl": web,
        "submittedVideoUrl": web,
        "input": web,
        "cid": c.comment_id,
        "createTime": int(c.created_at.timestamp()),
        "createTimeISO": iso_z(c.created_at),
        "text": c.text,
        "diggCount": c.likes,
        "likedByAuthor": False,
        "pinnedByAuthor": False,
        "repliesToId": c.parent_id,
        "replyCommentTotal": n_replies,
        "uid": prof.user_id if prof else "0",
        "uniqueId": c.author,
        "avatarThumbnail": avatar_url(base, prof) if prof else "",
    }


# ---------------------------------------------------------------------------------- x


def _x_author(world: World, prof: Profile, now: datetime, base: str) -> dict[str, Any]:
    return {
        "type": "user",
        "userName": prof.username,
        "url": f"{base}/x/{prof.username}",
        "twitterUrl": f"{base}/x/{prof.username}",
        "id": prof.user_id,
        "name": prof.display_name,
        "isVerified": False,
        "isBlueVerified": prof.verified,
        "profilePicture": avatar_url(base, prof),
        "coverPicture": f"{base}/media/x/cover-{prof.username}.svg",
        "description": "",
        "location": prof.location,
        "followers": world.follower_count(prof),
        "following": world.following_count(prof),
        "status": "",
        "canDm": True,
        "canMediaTag": True,
        "createdAt": x_date(prof.created_at),
        "entities": {"description": {"urls": []}, "url": {}},
        "fastFollowersCount": 0,
        "favouritesCount": prof.base_following * 4,
        "hasCustomTimelines": False,
        "isTranslator": False,
        "mediaCount": sum(1 for p in world.visible_posts("x", now, prof.username) if p.media),
        "statusesCount": len(world.visible_posts("x", now, prof.username)),
        "withheldInCountries": [],
        "affiliatesHighlightedLabel": {},
        "possiblySensitive": False,
        "pinnedTweetIds": [],
        "profile_bio": {"description": prof.bio, "entities": {"description": {}, "url": {"urls": []}}},
        "isAutomated": False,
        "automatedBy": None,
    }


@_register("x")
def x_item(world: World, post: Post, now: datetime, base: str) -> dict[str, Any]:
    prof = world.profiles["x"][post.author]
    m = world.metrics(post, now)
    url = f"{base}/x/{prof.username}/status/{post.post_id}"
    entities: dict[str, Any] = {}
    tags = [
        {"indices": [mm.start(), mm.end()], "text": mm.group(1)}
        for mm in re.finditer(r"(?<![\w#])#(\w+)", post.text)
    ]
    if tags:
        entities["hashtags"] = tags
    mentions = []
    for mm in re.finditer(r"(?<![\w@])@([A-Za-z0-9_.]+[A-Za-z0-9_])", post.text):
        other = world.profiles["x"].get(mm.group(1).lower())
        mentions.append(
            {
                "id_str": other.user_id if other else "0",
                "indices": [mm.start(), mm.end()],
                "name": other.display_name if other else mm.group(1),
                "screen_name": mm.group(1),
            }
        )
    if mentions:
        entities["user_mentions"] = mentions
    ext: dict[str, Any] = {}
    if post.media:
        ext["media"] = []
        for i, x in enumerate(post.media, start=1):
            mid = str(int(post.post_id) + i)
            kind = "video" if x.kind == "video" else "photo"
            ext["media"].append(
                {
                    "display_url": f"pic.x.com/{x.media_id}",
                    "expanded_url": f"{url}/{kind}/{i}",
                    "ext_media_availability": {"status": "Available"},
                    "id_str": mid,
                    "indices": [len(post.text), len(post.text) + 24],
                    "media_key": f"{'7' if kind == 'video' else '3'}_{mid}",
                    "media_url_https": media_url(base, "x", x.media_id),
                    "original_info": {"focus_rects": [], "height": x.height, "width": x.width},
                    "sizes": {"large": {"h": x.height, "w": x.width}},
                    "type": kind,
                    "url": f"{base}/x/i/{x.media_id}",
                }
            )
    return {
        "type": "tweet",
        "id": post.post_id,
        "url": url,
        "twitterUrl": url,
        "text": post.text,
        "source": "",
        "retweetCount": m["reposts"],
        "replyCount": m["replies"],
        "likeCount": m["likes"],
        "quoteCount": m["quotes"],
        "viewCount": m["views"],
        "createdAt": x_date(post.posted_at),
        "lang": "en",
        "bookmarkCount": m["bookmarks"],
        "isReply": False,
        "inReplyToId": None,
        "conversationId": post.post_id,
        "inReplyToUserId": None,
        "inReplyToUsername": None,
        "isPinned": False,
        "author": _x_author(world, prof, now, base),
        "extendedEntities": ext,
        "card": None,
        "place": {},
        "entities": entities,
        "reply_to_user_results": None,
        "quoted_tweet_results": None,
        "quoted_tweet": None,
        "retweeted_tweet": None,
        "isConversationControlled": False,
    }


# ---------------------------------------------------------------------------------- threads


@_register("threads")
def threads_item(world: World, post: Post, now: datetime, base: str) -> dict[str, Any]:
    prof = world.profiles["threads"][post.author]
    m = world.metrics(post, now)
    images = [media_url(base, "threads", x.media_id) for x in post.media if x.kind == "image"]
    videos = [media_url(base, "threads", x.media_id, "video") for x in post.media if x.kind == "video"]
    return {
        "post_id": post.post_id,
        "pk": post.ids["pk"],
        "code": post.ids["code"],
        "url": f"{base}/threads/@{prof.username}/post/{post.ids['code']}",
        "user_name": prof.username,
        "content": post.text,
        "published_on": int(post.posted_at.timestamp()),
        "posted_at": post.posted_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "reply_count": m[COMMENT_METRIC["threads"]],
        "like_count": m["likes"],
        "user_pic": avatar_url(base, prof),
        "user_verified": prof.verified,
        "images": images or None,
        "image_count": len(images) or None,
        "videos": videos,
        "has_audio": True if videos else None,
        "user_pk": prof.user_id,
        "user_id": prof.user_id,
    }


def flatten_item(item: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Apify's ``flatten=`` option: nested objects named in ``fields`` become dotted keys."""
    out: dict[str, Any] = {}
    for k, v in item.items():
        if k in fields and isinstance(v, dict):
            for k2, v2 in v.items():
                out[f"{k}.{k2}"] = v2
        else:
            out[k] = v
    return out
