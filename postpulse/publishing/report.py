"""Planned against actual: per content item and per platform, when each variant was planned and
went out, and how it performs against what its account's posts usually get."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: the account's usual engagement: the median over its last posts before this one
BASELINE_POSTS = 20

_REPORT = text(f"""
SELECT c.id AS content_item_id, coalesce(c.title, left(c.text_content, 40)) AS item, a.platform, a.username,
       p.status, p.scheduled_for, p.published_at,
       extract(epoch FROM p.published_at - p.scheduled_for)::int AS delay_s,
       s.like_count, s.comment_count, s.share_count, s.view_count, s.checks_completed,
       coalesce(s.like_count, 0) + coalesce(s.comment_count, 0) + coalesce(s.share_count, 0) AS engagement,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(o.like_count, 0)
                + coalesce(o.comment_count, 0) + coalesce(o.share_count, 0))
        FROM (SELECT * FROM posts o WHERE o.account_id = p.account_id AND o.id <> s.id
              AND o.posted_at < s.posted_at ORDER BY o.posted_at DESC LIMIT {BASELINE_POSTS}) o) AS usual
FROM content_items c
JOIN publications p ON p.content_item_id = c.id AND p.status <> 'cancelled'
JOIN accounts a ON a.id = p.account_id
LEFT JOIN posts s ON s.id = p.post_id
WHERE (CAST(:item AS text) IS NULL OR c.id = :item) AND (CAST(:w AS text) IS NULL OR c.workspace_id = :w)
ORDER BY c.id, a.platform, a.username
""")


def planned_vs_actual(
    conn: Connection, *, item_id: str | None = None, workspace_id: str | None = None
) -> list[dict]:
    rows = [dict(r) for r in conn.execute(_REPORT, {"item": item_id, "w": workspace_id}).mappings()]
    for r in rows:
        usual = r["usual"]
        r["vs_usual"] = round(r["engagement"] / usual, 2) if usual and r["published_at"] else None
    return rows


def by_platform(rows: list[dict]) -> list[dict]:
    """Totals across an item's platforms."""
    out: dict[tuple[str, str], dict] = {}
    for r in rows:
        k = (r["content_item_id"], r["platform"])
        t = out.setdefault(
            k, {"content_item_id": k[0], "platform": k[1], "published": 0, "engagement": 0, "views": 0}
        )
        t["published"] += r["published_at"] is not None
        t["engagement"] += r["engagement"] or 0
        t["views"] += r["view_count"] or 0
    return list(out.values())
