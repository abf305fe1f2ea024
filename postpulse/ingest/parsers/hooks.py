"""Record hooks: small functions run after the field mapping for what paths cannot express.

A hook is ``hook(raw: dict, record) -> None``; it may change the record and may raise
``BadValue``/``BadCount`` (the record is then rejected with that reason).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..counts import BadCount, parse_count
from ..mapping.errors import BadValue
from ..records import PostRecord


def linkedin_engagement_reactions(raw: dict, post: PostRecord) -> None:
    """``engagement.reactions = [{"type": "LIKE", "count": 43}, ...]`` (P-Saroha schema):
    exact per-type counts into ``platform_stats["reactions_by_type"]``; ``likes`` = the LIKE count.
    Types absent from the list stay absent (``likes`` None when LIKE is missing)."""
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


HOOKS: dict[str, Callable[[dict, Any], None]] = {
    "linkedin_engagement_reactions": linkedin_engagement_reactions,
    "linkedin_stats_check": linkedin_stats_check,
    "linkedin_full_urn": linkedin_full_urn,
    "tiktok_stats": tiktok_stats,
    "tiktok_comment_parent": tiktok_comment_parent,
}

__all__ = ["HOOKS", "BadCount"]
