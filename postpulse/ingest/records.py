"""Normalized records produced by the parsers (plain dataclasses, no Dagster, no database).

Conventions shared by every parser:

* Counts that the source does not carry stay ``None``; they are never turned into 0.
* Datetimes are timezone-aware UTC.
* ``raw`` is the source record as parsed (after un-flattening of ``a.b`` / ``a/0/b`` keys, with
  NUL characters removed), ready to be stored as JSON.
* ``record_index`` is the 0-based position of the record in the file, in reading order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class ProfileRecord:
    platform: str
    platform_user_id: str | None = None
    username: str | None = None
    display_name: str | None = None
    profile_url: str | None = None
    follower_count: int | None = None
    following_count: int | None = None
    post_count: int | None = None
    is_verified: bool | None = None
    bio: str | None = None
    raw: dict = field(default_factory=dict)


COUNT_FIELDS = (
    "reactions",
    "likes",
    "comments",
    "shares",
    "views",
    "saves",
    "impressions",
    "reach",
    "clicks",
    "quotes",
)


@dataclass(slots=True)
class MetricCounts:
    reactions: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None
    saves: int | None = None
    impressions: int | None = None
    reach: int | None = None
    clicks: int | None = None
    quotes: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in COUNT_FIELDS}

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in COUNT_FIELDS)


@dataclass(slots=True)
class MediaRecord:
    media_type: str | None = None
    url: str | None = None
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    position: int = 0


@dataclass(slots=True)
class CommentRecord:
    platform: str
    platform_comment_id: str
    platform_post_id: str | None = None
    parent_platform_comment_id: str | None = None
    author: ProfileRecord | None = None
    text: str | None = None
    posted_at: datetime | None = None
    like_count: int | None = None
    reply_count: int | None = None
    raw: dict = field(default_factory=dict)
    record_index: int = 0
    captured_at: datetime | None = None
    """Only set when the record (or its file's own metadata) carries a capture time."""


@dataclass(slots=True)
class PostRecord:
    platform: str
    platform_post_id: str
    full_urn: str | None = None
    url: str | None = None
    author: ProfileRecord | None = None
    text: str | None = None
    post_type: str | None = None
    content_type: str | None = None
    posted_at: datetime | None = None
    posted_at_approximate: bool = False
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    is_sponsored: bool | None = None
    counts: MetricCounts = field(default_factory=MetricCounts)
    platform_stats: dict = field(default_factory=dict)
    captured_at: datetime | None = None
    comments: list[CommentRecord] = field(default_factory=list)
    media: list[MediaRecord] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    record_index: int = 0
    format: str | None = None
    """Name of the format/mapping that produced the record (e.g. ``apify_x_tweets``)."""


@dataclass(slots=True)
class HashtagStatsRecord:
    """Instagram hashtag statistics (Apify ``instagram-hashtag-stats``); its posts follow it
    as ordinary :class:`PostRecord`\\ s."""

    platform: str
    name: str
    url: str | None = None
    posts_count: int | None = None
    posts_per_day: int | None = None
    related: list[dict] = field(default_factory=list)
    """``[{"hashtag": "#farm", "info": "25.37 m", "group": "related"}, ...]`` as given."""
    top_post_ids: list[str] = field(default_factory=list)
    latest_post_ids: list[str] = field(default_factory=list)
    captured_at: datetime | None = None
    raw: dict = field(default_factory=dict)
    record_index: int = 0
    format: str | None = None


@dataclass(slots=True)
class Rejected:
    """A record that could not be turned into a normalized record, with the reason."""

    record_index: int
    reason: str
    field: str | None = None
    excerpt: str = ""
    kind: str = "invalid"
    """``invalid`` (bad or missing value, unparseable line) or ``duplicate`` (same post or
    comment already seen earlier in the same file with the same capture time)."""

    def __post_init__(self) -> None:
        if len(self.excerpt) > 200:
            self.excerpt = self.excerpt[:199] + "…"


Record = PostRecord | CommentRecord | HashtagStatsRecord | Rejected
