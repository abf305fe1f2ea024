"""Record hooks: small functions run after the field mapping for what paths cannot express.

A hook is ``hook(raw: dict, record) -> None``; it may change the record and may raise
``BadValue``/``BadCount`` (the record is then rejected with that reason).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..counts import BadCount, parse_count
from ..records import PostRecord
from .content_types import content_type_from_media as content_type_from_media_types
from .content_types import normalize_content_type


def linkedin_engagement_reactions(raw: dict, post: PostRecord) -> None:
    """``engagement.reactions = [{"type": "LIKE", "count": 43}, ...]`` (P-Saroha schema):
    exact per-type counts into ``platform_stats["reactions_by_type"]``; ``likes`` = the LIKE count.
    Types absent from the list stay absent (``likes`` None when LIKE is missing)."""
    from ..mapping import BadValue

    eng = raw.get("engagement")
    reactions = eng.get("reactions") if type(eng) is dict else None
    if reactions is None:
        return
    if type(reactions) is not list:
        raise BadValue("engagement.reactions", reactions, "expected a list of {type, count}")
    by_type: dict[str, int] = {}
    for i, r in enumerate(reactions):
        if type(r) is not dict or not isinstance(r.get("type"), str):
            raise BadValue(f"engagement.reactions[{i}]", r, "expected {type, count}")
        n = parse_count(r.get("count"), field=f"engagement.reactions[{i}].count")
        if n is not None:
            by_type[r["type"]] = by_type.get(r["type"], 0) + n
    post.platform_stats["reactions_by_type"] = by_type
    if "LIKE" in by_type:
        post.counts.likes = by_type["LIKE"]


def linkedin_full_urn(raw: dict, post: PostRecord) -> None:
    """``full_urn`` when the source gives none: the post id as an activity URN (or the URN
    itself when the id is one, e.g. ``urn:li:ugcPost:N`` for reposts without an activity id)."""
    if post.full_urn is None:
        pid = post.platform_post_id
        post.full_urn = pid if pid.startswith("urn:") else f"urn:li:activity:{pid}"


def linkedin_stats_check(raw: dict, post: PostRecord) -> None:
    """Every value in a LinkedIn ``stats`` object must be a valid count (they are kept as
    given in platform_stats, so a bad one rejects the record instead of being stored)."""
    stats = raw.get("stats")
    if type(stats) is not dict:
        return
    for key, value in stats.items():
        parse_count(value, field=f"stats.{key}")


def _rounding_ok(rounded: int, exact: int) -> bool:
    """TikTok's ``stats`` numbers are ``statsV2`` rounded to about 3 significant digits."""
    if rounded == exact:
        return True
    digits = len(str(abs(exact)))
    tolerance = 10 ** max(digits - 3, 0)
    return abs(rounded - exact) <= tolerance


def tiktok_stats(raw: dict, post: PostRecord) -> None:
    """TikTok web API items carry ``stats`` (numbers, rounded) and ``statsV2`` (exact strings).
    The mapping prefers statsV2; this hook validates both, keeps the exact values in
    ``platform_stats`` and records any disagreement beyond rounding in ``stats_mismatch``."""
    s1 = raw.get("stats") if type(raw.get("stats")) is dict else {}
    s2 = raw.get("statsV2") if type(raw.get("statsV2")) is dict else {}
    exact: dict[str, int] = {}
    rounded: dict[str, int] = {}
    mismatch: dict[str, list[int]] = {}
    for key in set(s1) | set(s2):
        a = parse_count(s1.get(key), field=f"stats.{key}") if key in s1 else None
        b = parse_count(s2.get(key), field=f"statsV2.{key}") if key in s2 else None
        value = b if b is not None else a
        if value is not None:
            exact[key] = value
        if a is not None and b is not None and a != b:
            rounded[key] = a
            if not _rounding_ok(a, b):
                mismatch[key] = [a, b]
    post.platform_stats.update(exact)
    if rounded:
        post.platform_stats["stats_rounded"] = rounded
    if mismatch:
        post.platform_stats["stats_mismatch"] = mismatch


def tiktok_comment_parent(raw: dict, comment: Any) -> None:
    """``repliesToId`` names the parent comment; top-level comments have it null/empty."""
    if comment.parent_platform_comment_id in ("", "0"):
        comment.parent_platform_comment_id = None


def content_type_from_media(raw: dict, post: PostRecord) -> None:
    """A post whose format names no (known) content type gets it from its media: a video, a
    carousel of images, an image, a document; a post without media is a text post."""
    if post.content_type is not None:
        named = normalize_content_type(post.content_type)
        if named is not None:
            post.content_type = named
            return
    post.content_type = content_type_from_media_types([m.media_type for m in post.media])


def tiktok_content_type(raw: dict, post: PostRecord) -> None:
    """TikTok posts are videos, except photo-mode slideshows (``isSlideshow`` /
    ``slideshowImageLinks`` in scraper exports, ``imagePost`` in web-API items)."""
    slideshow = raw.get("isSlideshow")
    if isinstance(slideshow, str):  # a CSV cell
        slideshow = slideshow.strip().lower() in ("true", "1", "yes")
    if slideshow is True or raw.get("slideshowImageLinks") or raw.get("imagePost"):
        post.content_type = "carousel"
    elif post.content_type is None:
        post.content_type = "video"


def platform_from_extractor(raw: dict, post: PostRecord) -> None:
    """yt-dlp covers many sites: the platform is its ``extractor_key`` (``Youtube``, ``TikTok``,
    ``Instagram``, ``Twitter``, ...), for the post and its author."""
    key = raw.get("extractor_key") or raw.get("ie_key") or raw.get("extractor")
    if not isinstance(key, str) or not key.strip():
        return
    name = key.strip().lower()
    for prefix, platform in _EXTRACTOR_PLATFORMS:
        if name.startswith(prefix):
            name = platform
            break
    post.platform = name
    if post.author is not None:
        post.author.platform = name
        if name == "tiktok":
            # TikTok's uploader_id is the numeric user id and uploader the @name (channel_id is
            # the secUid): the keys TikTok's other formats use
            uid, username = raw.get("uploader_id"), raw.get("uploader")
            if isinstance(uid, (str, int)) and not isinstance(uid, bool) and str(uid).strip():
                post.author.platform_user_id = str(uid).strip()
            if isinstance(username, str) and username.strip():
                post.author.username = username.strip()
    for c in post.comments:
        c.platform = name


_EXTRACTOR_PLATFORMS = (
    ("youtube", "youtube"),
    ("tiktok", "tiktok"),
    ("instagram", "instagram"),
    ("twitter", "x"),
    ("facebook", "facebook"),
    ("linkedin", "linkedin"),
    ("threads", "threads"),
    ("vimeo", "vimeo"),
)


HOOKS: dict[str, Callable[[dict, Any], None]] = {
    "content_type_from_media": content_type_from_media,
    "tiktok_content_type": tiktok_content_type,
    "platform_from_extractor": platform_from_extractor,
    "linkedin_engagement_reactions": linkedin_engagement_reactions,
    "linkedin_stats_check": linkedin_stats_check,
    "linkedin_full_urn": linkedin_full_urn,
    "tiktok_stats": tiktok_stats,
    "tiktok_comment_parent": tiktok_comment_parent,
}

__all__ = ["HOOKS", "BadCount"]
