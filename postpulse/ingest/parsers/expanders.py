"""Expanders: records that hold other records.

``instagram_hashtag_stats`` -- Apify's Instagram hashtag stats object
(``{name, postsCount, postsPerDay, related[], frequent[], ..., topPosts[], latestPosts[]}``)
gives one :class:`HashtagStatsRecord` followed by one :class:`PostRecord` per nested post
(parsed with the ``apify_instagram_scraper`` mapping). A nested post that is bad becomes its
own ``Rejected``; the others still load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..counts import parse_count
from ..mapping.errors import BAD_VALUE_ERRORS, BadValue
from ..mapping.values import to_text
from ..records import HashtagStatsRecord, Rejected

_RELATED_GROUPS = (
    "related",
    "frequent",
    "average",
    "rare",
    "relatedFrequent",
    "relatedAverage",
    "relatedRare",
)


def instagram_hashtag_stats(obj: dict, mapping: Any, ctx: Any) -> Iterator[Any]:
    name = to_text(obj.get("name") or obj.get("id"), "name")
    if not name:
        raise BadValue("name", obj.get("name"), "missing hashtag name")
    related: list[dict] = []
    for group in _RELATED_GROUPS:
        entries = obj.get(group)
        if type(entries) is list:
            for e in entries:
                if type(e) is dict and e.get("hash"):
                    related.append({"hashtag": e.get("hash"), "info": e.get("info"), "group": group})
    post_mapping = ctx.mappings.get("apify_instagram_scraper") if ctx.mappings else None
    stats = HashtagStatsRecord(
        platform=mapping.platform,
        name=name.lstrip("#"),
        url=to_text(obj.get("url"), "url"),
        posts_count=parse_count(obj.get("postsCount"), field="postsCount")
        if obj.get("postsCount") is not None
        else parse_count(obj.get("posts"), field="posts"),
        posts_per_day=parse_count(obj.get("postsPerDay"), field="postsPerDay"),
        related=related,
        captured_at=ctx.file_captured_at,
        raw={k: v for k, v in obj.items() if k not in ("topPosts", "latestPosts")},
        format=ctx.format,
    )
    nested: list[Any] = []
    for list_name, ids in (("topPosts", stats.top_post_ids), ("latestPosts", stats.latest_post_ids)):
        posts = obj.get(list_name)
        if posts is None:
            continue
        if type(posts) is not list:
            raise BadValue(list_name, posts, "expected a list of posts")
        for i, p in enumerate(posts):
            try:
                if type(p) is not dict:
                    raise BadValue(f"{list_name}[{i}]", p, "expected a post object")
                if post_mapping is None:
                    raise BadValue(list_name, None, "the apify_instagram_scraper mapping is missing")
                rec = post_mapping.build_post(p, ctx)
                rec.format = ctx.format
                ids.append(rec.platform_post_id)
                nested.append(rec)
            except BAD_VALUE_ERRORS as exc:
                nested.append(
                    Rejected(0, f"{list_name}[{i}]: {exc}", getattr(exc, "field", None), _excerpt(p))
                )
    yield stats
    yield from nested


def _excerpt(obj: Any) -> str:
    import orjson

    try:
        return orjson.dumps(obj)[:400].decode("utf-8", "replace")[:200]
    except TypeError:
        return repr(obj)[:200]


EXPANDERS: dict[str, Callable[..., Iterator[Any]]] = {
    "instagram_hashtag_stats": instagram_hashtag_stats,
}
