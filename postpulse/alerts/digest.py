"""The daily digest per workspace: what was published, actions done and refused, the top posts,
and the follower change of its accounts (against the previous digest, which records each
account's follower count). One digest per workspace and day, after ``digest_hour`` (UTC); it
covers the 24 hours before it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .config import AlertConfig
from .model import Alert

TOP_POSTS = 3


def _workspaces(conn: Connection) -> list[dict]:
    rows = conn.execute(
        text(
            "SELECT w.id, w.name FROM workspaces w "
            "WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.workspace_id = w.id) "
            "ORDER BY w.id"
        )
    ).mappings()
    return [dict(r) for r in rows]


def build_digest(conn: Connection, workspace: dict, now: datetime, config: AlertConfig) -> Alert:
    since = now - timedelta(days=1)
    w = workspace["id"]
    published = conn.execute(
        text(
            "SELECT count(*) FROM publications p JOIN accounts a ON a.id = p.account_id "
            "WHERE a.workspace_id = :w AND p.status = 'published' AND p.published_at >= :since"
        ),
        {"w": w, "since": since},
    ).scalar_one()
    actions = {
        (status, typ): int(n)
        for status, typ, n in conn.execute(
            text(
                "SELECT q.status, q.action_type, count(*) FROM action_queue q "
                "JOIN accounts a ON a.id = q.account_id "
                "WHERE a.workspace_id = :w AND q.status IN ('completed', 'rejected', 'failed') "
                "AND q.completed_at >= :since GROUP BY 1, 2"
            ),
            {"w": w, "since": since},
        )
    }
    top = (
        conn.execute(
            text(
                "SELECT p.id, p.platform, coalesce(p.url, p.platform_post_id) AS ref, "
                "coalesce(p.like_count, 0) + coalesce(p.comment_count, 0) + coalesce(p.share_count, 0) "
                "+ coalesce(p.reaction_count, 0) AS engagement "
                "FROM posts p JOIN accounts a ON a.id = p.account_id "
                "WHERE a.workspace_id = :w AND p.last_extracted_at >= :since "
                "ORDER BY engagement DESC, p.id LIMIT :n"
            ),
            {"w": w, "since": since, "n": TOP_POSTS},
        )
        .mappings()
        .all()
    )
    followers = {
        r["id"]: (r["username"], r["followers_count"])
        for r in conn.execute(
            text("SELECT id, username, followers_count FROM accounts WHERE workspace_id = :w ORDER BY id"),
            {"w": w},
        ).mappings()
    }
    previous = conn.execute(
        text(
            "SELECT details->'followers' FROM alerts WHERE kind = 'digest' AND workspace_id = :w "
            "ORDER BY created_at DESC LIMIT 1"
        ),
        {"w": w},
    ).scalar()
    previous = json.loads(previous) if isinstance(previous, str) else (previous or {})

    def count(status: str) -> int:
        return sum(n for (s, _), n in actions.items() if s == status)

    lines = [f"Published: {published}"]
    lines.append(
        f"Actions done: {count('completed')}, refused: {count('rejected')}, failed: {count('failed')}"
    )
    for (status, typ), n in sorted(actions.items()):
        lines.append(f"  {typ} {status}: {n}")
    if top:
        lines.append("Top posts:")
        lines += [f"  {t['engagement']} interactions  {t['platform']} {t['ref']} ({t['id']})" for t in top]
    changes = []
    for acc, (username, n) in followers.items():
        if n is None:
            continue
        before = previous.get(acc)
        delta = f"{n - before:+d}" if isinstance(before, int) else "first count"
        changes.append(f"  @{username}: {n} followers ({delta})")
    if changes:
        lines.append("Followers:")
        lines += changes
    return Alert(
        "digest",
        f"digest:{w}:{now:%Y-%m-%d}",
        f"daily digest for {workspace['name']} ({now:%Y-%m-%d})",
        "\n".join(lines),
        severity="info",
        link=f"{config.dagster_url}/assets",
        workspace_id=w,
        details={
            "published": int(published),
            "actions": {f"{s}:{t}": n for (s, t), n in actions.items()},
            "top_posts": [t["id"] for t in top],
            "followers": {acc: n for acc, (_, n) in followers.items() if n is not None},
        },
    )


class DigestSource:
    name = "daily_digest"

    def collect(self, conn: Connection, now: datetime, config: AlertConfig) -> list[Alert]:
        if now.hour < config.digest_hour:
            return []
        done = set(
            conn.execute(
                text("SELECT workspace_id FROM alerts WHERE kind = 'digest' AND dedup_key LIKE :k"),
                {"k": f"digest:%:{now:%Y-%m-%d}"},
            ).scalars()
        )
        return [build_digest(conn, w, now, config) for w in _workspaces(conn) if w["id"] not in done]
