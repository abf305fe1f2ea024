"""The content type of a post (``text``, ``image``, ``video``, ``carousel``, ``reel``, ``story``,
``article``, ``document``, ``poll``, ``mixed``) from the names the formats use for it
(LinkedIn ``linkedinVideo``, Instagram ``Sidecar``, X ``animated_gif``, yt-dlp ``short`` ...),
or from the media a post carries."""

from __future__ import annotations

from typing import Any

_NAMES = {
    "text": "text",
    "status": "text",
    "image": "image",
    "photo": "image",
    "picture": "image",
    "graphimage": "image",
    "linkedinimage": "image",
    "images": "carousel",  # LinkedIn media.type of a post with several images
    "sidecar": "carousel",
    "graphsidecar": "carousel",
    "carousel": "carousel",
    "carousel_album": "carousel",
    "album": "carousel",
    "multiimage": "carousel",
    "slideshow": "carousel",
    "video": "video",
    "linkedinvideo": "video",
    "graphvideo": "video",
    "native_video": "video",
    "animated_gif": "video",
    "gif": "video",
    "short": "video",
    "shorts": "video",
    "livestream": "video",
    "live": "video",
    "clips": "reel",
    "reel": "reel",
    "reels": "reel",
    "story": "story",
    "article": "article",
    "linkedinarticle": "article",
    "link": "article",
    "share": "article",
    "document": "document",
    "pdf": "document",
    "poll": "poll",
    "mixed": "mixed",
}


def normalize_content_type(value: Any) -> str | None:
    """The stored content type for a format's name of it; None when the name says nothing
    (the next fallback, or the media, decide)."""
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    return _NAMES.get(key)


def content_type_from_media(media_types: list[str | None]) -> str:
    """A post's content type from its media: any video makes a video, several images a
    carousel, one image an image, a document or article that; no media is a text post."""
    kinds = [normalize_content_type(t) or t for t in media_types]
    if not kinds:
        return "text"
    if "video" in kinds or "reel" in kinds:
        return "video" if len(kinds) == 1 or all(k in ("video", "reel") for k in kinds) else "mixed"
    images = sum(1 for k in kinds if k == "image")
    if images and images == len(kinds):
        return "carousel" if images > 1 else "image"
    for k in ("carousel", "document", "article", "poll"):
        if k in kinds:
            return k
    return "mixed" if images else "text"
