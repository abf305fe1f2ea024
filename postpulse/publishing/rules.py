"""What each platform accepts in a post: text length (counted the platform's way), media, alt text,
links and mentions. Sources: the platforms' developer documentation (Bluesky's app.bsky.feed.post
lexicon: 300 graphemes, 4 images of at most 1,000,000 bytes; X's counting of weighted characters
with every link as 23, 4 images of 5 MB or one video)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import regex
from twitter_text import parse_tweet

MB = 1_000_000


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters): an emoji with modifiers is one."""
    return len(regex.findall(r"\X", text))


def x_weighted(text: str) -> int:
    """X's weighted length: most scripts 1, CJK and emoji 2, every URL 23."""
    return parse_tweet(text).weightedLength


def code_points(text: str) -> int:
    return len(text)


@dataclass(frozen=True)
class PlatformRules:
    name: str
    max_length: int
    counter: Callable[[str], int]
    unit: str
    image_types: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
    max_images: int = 4
    max_image_bytes: int = 5 * MB
    max_videos: int = 1
    max_video_bytes: int = 512 * MB
    mix_images_and_video: bool = False
    max_alt_length: int = 1000
    needs_media: bool = False
    mention_re: re.Pattern = re.compile(r"(?<![\w@])@([A-Za-z0-9_.]{1,30})\b")
    handle_re: re.Pattern = re.compile(r"^[A-Za-z0-9_.]{1,30}$")


_BSKY_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9.-]*)")
_BSKY_HANDLE = re.compile(
    r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
_X_MENTION = re.compile(r"(?<![\w@])@(\w+)")
_X_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")

RULES: dict[str, PlatformRules] = {
    "bluesky": PlatformRules(
        "bluesky",
        300,
        graphemes,
        "graphemes",
        image_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
        max_image_bytes=1 * MB,
        max_video_bytes=100 * MB,
        max_alt_length=2000,
        mention_re=_BSKY_MENTION,
        handle_re=_BSKY_HANDLE,
    ),
    "x": PlatformRules(
        "x", 280, x_weighted, "weighted characters", mention_re=_X_MENTION, handle_re=_X_HANDLE
    ),
    "threads": PlatformRules(
        "threads", 500, code_points, "characters", max_images=10, max_image_bytes=8 * MB
    ),
    "linkedin": PlatformRules("linkedin", 3000, code_points, "characters", max_images=9),
    "instagram": PlatformRules(
        "instagram", 2200, code_points, "characters", max_images=10, max_image_bytes=8 * MB, needs_media=True
    ),
    "tiktok": PlatformRules("tiktok", 2200, code_points, "characters", max_images=0, needs_media=True),
    "facebook": PlatformRules("facebook", 63206, code_points, "characters", max_images=10),
    "youtube": PlatformRules("youtube", 5000, code_points, "characters", max_images=0, needs_media=True),
}


def rules_for(platform: str) -> PlatformRules:
    return RULES.get(platform) or PlatformRules(platform, 5000, code_points, "characters")
