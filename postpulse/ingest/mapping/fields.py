"""Field names a mapping file may use, and the limits that reject absurd values."""

from __future__ import annotations

from pathlib import Path

BUILTIN_DIR = Path(__file__).parent.with_name("mappings")  # postpulse/ingest/mappings/*.toml
MAX_TEXT_CHARS = 1_000_000
"""A text-like field longer than this rejects the record (reason names the field and size)."""
MAX_ID_CHARS = 512
MAX_LIST_ITEMS = 10_000

KINDS = ("post", "comment", "hashtag_stats")
POST_FIELDS = (
    "platform_post_id",
    "full_urn",
    "url",
    "text",
    "post_type",
    "content_type",
    "posted_at",
    "posted_ago",
    "captured_at",
    "hashtags",
    "mentions",
    "is_sponsored",
    "platform_stats",
)
COMMENT_FIELDS = (
    "platform_comment_id",
    "platform_post_id",
    "parent_platform_comment_id",
    "text",
    "posted_at",
    "captured_at",
    "like_count",
    "reply_count",
)
AUTHOR_FIELDS = (
    "platform_user_id",
    "username",
    "display_name",
    "profile_url",
    "follower_count",
    "following_count",
    "post_count",
    "is_verified",
    "bio",
)
MEDIA_FIELDS = ("media_type", "url", "thumbnail_url", "width", "height", "duration_s")
SPEC_KEYS = {
    "path",
    "paths",
    "transform",
    "each",
    "join",
    "sep",
    "const",
    "none_if",
    "template",
    "date_format",
}
TOP_KEYS = {
    "name",
    "platform",
    "kind",
    "description",
    "priority",
    "items",
    "detect",
    "meta",
    "fields",
    "author",
    "counts",
    "platform_stats",
    "media",
    "comments",
    "hooks",
    "expand",
    "version",
}
