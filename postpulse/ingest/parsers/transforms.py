"""Named value transforms usable from mapping files: ``{ path = "url", transform = "..." }``.

A transform takes the value found at a path and returns the value to use, or ``None`` when it
cannot make sense of it (the next fallback path is then tried). Regexes are compiled once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from ..timeparse import relative_seconds
from .content_types import normalize_content_type

Transform = Callable[[Any], Any]

_LI_ACTIVITY = re.compile(r"(?:urn:li:activity:|activity[-:])(\d{6,})")
_LI_URN = re.compile(r"urn:li:(activity|ugcPost|share):(\d+)")
_LI_URL_UGC = re.compile(r"(ugcPost|share)-(\d{6,})")
_LI_PROFILE_ID = re.compile(r"(ACo[A-Za-z0-9_-]{20,})")
_LI_SLUG = re.compile(r"linkedin\.com/(in|company|school|showcase)/([^/?#]+)")
_LI_MEMBER = re.compile(r"urn:li:(?:member|fs_miniProfile|company|fs_miniCompany|organization):(\w+)")
_LI_COMMENT = re.compile(r"comment:\(\w+:\d+,(\d+)\)")
_IG_CODE = re.compile(r"instagram\.com/(?:[^/]+/)?(?:p|reel|reels|tv)/([A-Za-z0-9_-]+)")
_THREADS_CODE = re.compile(r"/post/([A-Za-z0-9_-]+)")
_IG_OWNER_SUFFIX = re.compile(r"^(\d+)_\d+$")
_TT_VIDEO = re.compile(r"/(?:video|photo)/(\d+)")
_TT_USER = re.compile(r"tiktok\.com/@([^/?#]+)")
_X_STATUS = re.compile(r"(?:twitter|x)\.com/([^/?#]+)/status(?:es)?/(\d+)")
_THREADS_USER = re.compile(r"threads\.(?:net|com)/@([^/?#]+)")
_HASHTAG = re.compile(r"(?:^|(?<=[^\w&/]))#(\w[\w\u00b7\u0300-\u036f]*)", re.UNICODE)
_MENTION = re.compile(r"(?:^|(?<=[^\w@/.]))@([A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?)")
_AT_POST = re.compile(r"^at://([^/]+)/app\.bsky\.feed\.post/([^/?#]+)$")
_IG_ALPHABET = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}


def _s(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, str)):
        return str(value)
    return None


def linkedin_activity_id(value: Any) -> str | None:
    """``urn:li:activity:N`` or a post URL containing ``activity-N`` -> ``"N"``."""
    s = _s(value)
    if s is None:
        return None
    if s.isdigit():
        return None  # a bare number: not known to be an activity id
    m = _LI_ACTIVITY.search(s)
    return m.group(1) if m else None


def linkedin_urn(value: Any) -> str | None:
    """Any ``urn:li:<type>:N`` in the value, or ``ugcPost-N``/``share-N`` in a post URL,
    as a full URN string."""
    s = _s(value)
    if s is None:
        return None
    m = _LI_URN.search(s)
    if m:
        return f"urn:li:{m.group(1)}:{m.group(2)}"
    m = _LI_URL_UGC.search(s)
    if m:
        return f"urn:li:{m.group(1)}:{m.group(2)}"
    return None


def linkedin_profile_id(value: Any) -> str | None:
    """The ``ACoAA...`` profile id, bare or inside a URL/URN (``miniProfileUrn=...``)."""
    s = _s(value)
    if s is None:
        return None
    m = _LI_PROFILE_ID.search(unquote(s))
    return m.group(1) if m else None


def linkedin_slug(value: Any) -> str | None:
    """Vanity name from ``linkedin.com/in/<slug>`` or ``/company/<slug>`` (not ``ACoAA`` ids)."""
    s = _s(value)
    if s is None:
        return None
    m = _LI_SLUG.search(s)
    if not m:
        return None
    slug = unquote(m.group(2))
    if slug.startswith("ACo") and len(slug) > 20:
        return None
    return slug


def linkedin_entity_id(value: Any) -> str | None:
    """``urn:li:member:12140658`` -> ``"12140658"``; ``urn:li:company:5`` -> ``"company:5"``."""
    s = _s(value)
    if s is None:
        return None
    m = _LI_MEMBER.search(s)
    if not m:
        return None
    if "ompany" in s or "organization" in s:
        return f"company:{m.group(1)}"
    return m.group(1)


def linkedin_comment_id(value: Any) -> str | None:
    """Comment id from a comment URN or a link carrying ``commentUrn=urn:li:comment:(...,N)``."""
    s = _s(value)
    if s is None:
        return None
    m = _LI_COMMENT.search(unquote(s))
    return m.group(1) if m else None


def instagram_shortcode_to_id(code: str) -> str | None:
    if not code or len(code) > 11:
        return None
    n = 0
    for ch in code:
        i = _IG_ALPHABET.get(ch)
        if i is None:
            return None
        n = n * 64 + i
    return str(n)


def instagram_media_id(value: Any) -> str | None:
    """Numeric Instagram/Threads media id: digits as given, a shortcode (``DL9r-MLMZnZ``)
    decoded, or the shortcode from a ``/p/``, ``/reel/``, ``/tv/`` URL decoded."""
    s = _s(value)
    if not s:
        return None
    if s.isdigit():
        return s
    m = _IG_OWNER_SUFFIX.match(s)  # "<media id>_<owner id>"
    if m:
        return m.group(1)
    if "/" in s:
        m = _IG_CODE.search(s) or _THREADS_CODE.search(s)
        if not m:
            return None
        s = m.group(1)
    return instagram_shortcode_to_id(s) or s


def tiktok_video_id(value: Any) -> str | None:
    s = _s(value)
    if not s:
        return None
    if s.isdigit():
        return s
    m = _TT_VIDEO.search(s)
    return m.group(1) if m else None


def tiktok_username(value: Any) -> str | None:
    s = _s(value)
    if not s:
        return None
    m = _TT_USER.search(s)
    return unquote(m.group(1)) if m else None


def x_status_id(value: Any) -> str | None:
    s = _s(value)
    if not s:
        return None
    if s.isdigit():
        return s
    m = _X_STATUS.search(s)
    return m.group(2) if m else None


def x_username(value: Any) -> str | None:
    s = _s(value)
    if not s:
        return None
    m = _X_STATUS.search(s)
    return m.group(1) if m else None


def threads_username(value: Any) -> str | None:
    s = _s(value)
    if not s:
        return None
    m = _THREADS_USER.search(s)
    return m.group(1) if m else None


def hashtags_from_text(value: Any) -> list[str] | None:
    if not isinstance(value, str) or "#" not in value:
        return None
    tags = _HASHTAG.findall(value)
    return tags or None


def mentions_from_text(value: Any) -> list[str] | None:
    if not isinstance(value, str) or "@" not in value:
        return None
    found = _MENTION.findall(value)
    return found or None


def lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def ms_to_s(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value / 1000.0


def not_empty(value: Any) -> Any:
    if value in ("", [], {}):
        return None
    return value


def digits(value: Any) -> str | None:
    """The value when it is all digits (an id), else None."""
    s = _s(value)
    return s if s and s.isdigit() else None


def bluesky_post_url(value: Any) -> str | None:
    """A Bluesky post's AT URI (``at://<did>/app.bsky.feed.post/<rkey>``) -> its web address."""
    s = _s(value)
    m = _AT_POST.match(s) if s else None
    return f"https://bsky.app/profile/{m.group(1)}/post/{m.group(2)}" if m else None


_YT_VIDEO = re.compile(
    r"(?:youtube\.com/(?:watch\?(?:.*&)?v=|shorts/|live/|embed/)|youtu\.be/)([A-Za-z0-9_-]{11})"
)
_YT_HANDLE = re.compile(r"youtube\.com/(@[^/?#]+)")
_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})")
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def youtube_video_id(value: Any) -> str | None:
    """The 11-character video id from a YouTube URL (watch, shorts, live, youtu.be)."""
    s = _s(value)
    if s is None:
        return None
    m = _YT_VIDEO.search(s)
    return m.group(1) if m else None


def youtube_handle(value: Any) -> str | None:
    """``@handle`` from a channel URL (``https://www.youtube.com/@Apify/videos``)."""
    s = _s(value)
    if s is None:
        return None
    m = _YT_HANDLE.search(s)
    return unquote(m.group(1)) if m else None


def duration_s(value: Any) -> float | None:
    """Seconds from ``"00:03:25"``/``"3:25"``, ISO 8601 ``"PT3M25S"`` or a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    s = _s(value)
    if not s:
        return None
    m = _CLOCK.fullmatch(s.strip())
    if m:
        h, mi, sec = m.groups()
        return float(int(h or 0) * 3600 + int(mi) * 60 + int(sec))
    m = _ISO_DURATION.fullmatch(s.strip())
    if m and any(m.groups()):
        d, h, mi, sec = m.groups()
        return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(sec or 0)
    return None


def absolute_time(value: Any) -> Any:
    """The value unless it is a relative time (``"3 weeks ago"``), which ``posted_ago`` reads."""
    if isinstance(value, str) and relative_seconds(value) is not None:
        return None
    return value


def content_type(value: Any) -> str | None:
    """A format's name for the kind of post (``linkedinVideo``, ``Sidecar``, ``photo``) as the
    stored content type; None when it is not a known name."""
    return normalize_content_type(value)


TRANSFORMS: dict[str, Transform] = {
    "content_type": content_type,
    "youtube_video_id": youtube_video_id,
    "youtube_handle": youtube_handle,
    "duration_s": duration_s,
    "absolute_time": absolute_time,
    "linkedin_activity_id": linkedin_activity_id,
    "linkedin_urn": linkedin_urn,
    "linkedin_profile_id": linkedin_profile_id,
    "linkedin_slug": linkedin_slug,
    "linkedin_entity_id": linkedin_entity_id,
    "linkedin_comment_id": linkedin_comment_id,
    "instagram_media_id": instagram_media_id,
    "tiktok_video_id": tiktok_video_id,
    "tiktok_username": tiktok_username,
    "x_status_id": x_status_id,
    "x_username": x_username,
    "threads_username": threads_username,
    "hashtags_from_text": hashtags_from_text,
    "mentions_from_text": mentions_from_text,
    "lower": lower,
    "ms_to_s": ms_to_s,
    "not_empty": not_empty,
    "digits": digits,
    "bluesky_post_url": bluesky_post_url,
}
