"""Comments and replies our accounts post, written to ``comments``.

A successful ``comment`` or ``reply`` becomes a ``comments`` row in the same transaction that
records the attempt:

- linked to the post (``post_id``): the post the action targeted, found by id or by
  ``(platform, platform_post_id)``; when the store does not know the post yet, a minimal
  ``posts`` row is added for it (``raw_json.source = 'postpulse-engagement'``) so that the
  comment is never lost, and a later import fills it in (natural key ``(platform,
  platform_post_id)``);
- a reply is linked to its parent (``parent_comment_id``) when the parent comment is stored;
- marked as ours: ``is_ours = true``, ``account_id``, ``author_username`` = the account,
  ``action_attempt_id`` = the successful attempt (whose ``action_id`` is the queued action), and
  ``raw_json.postpulse = {action_id, attempt_id}`` on rows postpulse created (the link survives
  the attempt's 1-year retention);
- idempotent on the natural key ``(platform, platform_comment_id)``: a comment an import stored
  first is marked as ours, nothing is duplicated.

A successful ``delete_comment`` removes our row (the platform no longer shows it; the history
stays in ``action_attempts`` and ``audit_entries``).

``our_comment_texts`` lets the idempotency check see these rows: "a comment text once per post"
holds even when the attempt rows are gone (retention) or the comment came from an import.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.ids import allocate_ids, retry_on_id_collision

_FIND_POST = text(
    "SELECT id FROM posts WHERE id = :pid OR (platform = :pf AND platform_post_id = :ppid) "
    "ORDER BY (id = :pid) DESC LIMIT 1"
)
_STUB_POST = text(
    "INSERT INTO posts (id, platform, platform_post_id, url, engagement_status, raw_json) "
    "VALUES (:id, :pf, :ppid, :url, 'not_engaged', CAST(:raw AS jsonb)) "
    "ON CONFLICT (platform, platform_post_id) DO NOTHING"
)
_PARENT = text("SELECT id FROM comments WHERE platform = :pf AND platform_comment_id = :pcid")
_UPSERT = text(
    "INSERT INTO comments (id, platform, platform_comment_id, post_id, parent_comment_id, is_reply, "
    "author_username, "
    "account_id, text, posted_at, is_ours, action_attempt_id, raw_json, first_seen_at, last_seen_at) "
    "VALUES (:id, :pf, :pcid, :post, :parent, :is_reply, :author, :acc, :text, :now, true, :att, "
    "CAST(:raw AS jsonb), :now, :now) "
    "ON CONFLICT (platform, platform_comment_id) DO UPDATE SET is_ours = true, "
    "account_id = EXCLUDED.account_id, "
    "action_attempt_id = coalesce(comments.action_attempt_id, EXCLUDED.action_attempt_id), "
    "parent_comment_id = coalesce(comments.parent_comment_id, EXCLUDED.parent_comment_id), "
    "last_seen_at = greatest(comments.last_seen_at, EXCLUDED.last_seen_at) "
    "RETURNING id"
)


def _post_row(
    conn: Connection, *, platform: str, platform_post_id: str, db_post_id: str | None, url: str | None
) -> str:
    pid = conn.execute(
        _FIND_POST, {"pid": db_post_id or "", "pf": platform, "ppid": platform_post_id}
    ).scalar()
    if pid is not None:
        return pid

    def attempt() -> None:
        (new,) = allocate_ids(conn, "posts", 1)
        conn.execute(
            _STUB_POST,
            {
                "id": new,
                "pf": platform,
                "ppid": platform_post_id,
                "url": url,
                "raw": json.dumps({"source": "postpulse-engagement"}),
            },
        )

    retry_on_id_collision(conn, "posts", attempt)
    return conn.execute(_FIND_POST, {"pid": "", "pf": platform, "ppid": platform_post_id}).scalar_one()


def lock_posts(conn: Connection, results: list[Any]) -> None:
    """Before recording a batch: lock the ``posts`` rows its successful actions will update, in id
    order, then add the missing posts our comments/replies need, in key order. Two executors
    recording at once thus take post locks in the same order and cannot deadlock."""
    keys: set[tuple[str, str]] = set()
    ids: set[str] = set()
    stubs: dict[tuple[str, str], str | None] = {}
    for r in results:
        t = r.task
        if not r.ok:
            continue
        if t.action_type in ("like", "unlike", "comment", "reply") and (t.target_id or t.post_ref):
            ppid = t.post_ref if t.action_type == "reply" else t.target_id
            if ppid:
                keys.add((t.platform, str(ppid)))
            if t.db_post_id:
                ids.add(t.db_post_id)
            if t.action_type in ("comment", "reply") and r.result.get("platform_comment_id") and ppid:
                stubs[(t.platform, str(ppid))] = None if t.action_type == "reply" else t.target_url
    if not keys and not ids:
        return
    ks = sorted(keys)
    conn.execute(
        text(
            "SELECT p.id FROM posts p WHERE p.id = ANY(CAST(:ids AS text[])) OR (p.platform, "
            "p.platform_post_id) IN "
            "(SELECT * FROM unnest(CAST(:pfs AS text[]), CAST(:ppids AS text[]))) ORDER BY p.id FOR UPDATE"
        ),
        {"ids": sorted(ids), "pfs": [k[0] for k in ks], "ppids": [k[1] for k in ks]},
    ).all()
    for (pf, ppid), url in sorted(stubs.items()):
        _post_row(conn, platform=pf, platform_post_id=ppid, db_post_id=None, url=url)


def record_our_comment(
    conn: Connection, task: Any, platform_comment_id: str, text_value: str | None, now: datetime
) -> str | None:
    """Write (or mark as ours) the comment/reply ``task`` posted; returns the ``cmt-`` id.

    ``task`` is the executor's ``ActionTask`` (``action_type`` comment or reply)."""
    if not platform_comment_id or text_value is None:
        return None
    is_reply = task.action_type == "reply"
    platform_post_id = task.post_ref if is_reply else task.target_id
    if not platform_post_id:
        return None
    post_id = _post_row(
        conn,
        platform=task.platform,
        platform_post_id=str(platform_post_id),
        db_post_id=task.db_post_id,
        url=None if is_reply else task.target_url,
    )
    parent = (
        conn.execute(_PARENT, {"pf": task.platform, "pcid": task.target_id}).scalar() if is_reply else None
    )
    raw = {
        "postpulse": {
            "action_id": task.action_id,
            "attempt_id": task.attempt_id,
            "action_type": task.action_type,
        }
    }
    if is_reply:
        raw["postpulse"]["parent_platform_comment_id"] = task.target_id

    def attempt() -> str:
        (cid,) = allocate_ids(conn, "comments", 1)
        return conn.execute(
            _UPSERT,
            {
                "id": cid,
                "pf": task.platform,
                "pcid": platform_comment_id,
                "post": post_id,
                "parent": parent,
                "is_reply": is_reply,
                "author": task.username,
                "acc": task.account_id,
                "text": text_value,
                "now": now,
                "att": task.attempt_id,
                "raw": json.dumps(raw),
            },
        ).scalar_one()

    return retry_on_id_collision(conn, "comments", attempt)


def forget_our_comment(conn: Connection, task: Any) -> int:
    """After a successful ``delete_comment``: remove our row of that comment."""
    return conn.execute(
        text("DELETE FROM comments WHERE platform = :pf AND platform_comment_id = :pcid AND is_ours"),
        {"pf": task.platform, "pcid": task.target_id},
    ).rowcount


_OUR_TEXTS = text(
    "SELECT c.text FROM comments c JOIN accounts a ON a.id = :a "
    "LEFT JOIN posts p ON p.id = c.post_id "
    "LEFT JOIN comments par ON par.id = c.parent_comment_id "
    "WHERE c.is_ours AND c.account_id = :a AND c.platform = a.platform AND ("
    " (:kind = 'comment' AND NOT c.is_reply AND p.platform_post_id = :tid) OR "
    " (:kind = 'reply' AND c.is_reply AND (par.platform_comment_id = :tid "
    "   OR c.raw_json -> 'postpulse' ->> 'parent_platform_comment_id' = :tid)))"
)


def our_comment_texts(conn: Connection, account_id: str, action_type: str, target_id: str) -> list[str]:
    """Texts of the comments (``action_type`` 'comment': on post ``target_id``) or replies
    ('reply': to comment ``target_id``) the account has in ``comments``."""
    if action_type not in ("comment", "reply"):
        return []
    return list(conn.execute(_OUR_TEXTS, {"a": account_id, "kind": action_type, "tid": target_id}).scalars())


_OUR_TEXTS_BATCH = text(
    "SELECT k.acc, k.typ, k.tid, c.text "
    "FROM unnest(CAST(:accs AS text[]), CAST(:types AS text[]), CAST(:tids AS text[])) AS k(acc, typ, tid) "
    "JOIN accounts a ON a.id = k.acc "
    "JOIN comments c ON c.account_id = k.acc AND c.is_ours AND c.platform = a.platform "
    "LEFT JOIN posts p ON p.id = c.post_id "
    "LEFT JOIN comments par ON par.id = c.parent_comment_id "
    "WHERE (k.typ = 'comment' AND NOT c.is_reply AND p.platform_post_id = k.tid) OR "
    " (k.typ = 'reply' AND c.is_reply AND (par.platform_comment_id = k.tid "
    "   OR c.raw_json -> 'postpulse' ->> 'parent_platform_comment_id' = k.tid))"
)


def our_comment_texts_batch(
    conn: Connection, keys: list[tuple[str, str, str]]
) -> list[tuple[str, str, str, str]]:
    """``our_comment_texts`` for many ``(account_id, action_type, target_id)`` keys in one query:
    rows ``(account_id, action_type, target_id, text)``."""
    keys = [k for k in keys if k[1] in ("comment", "reply")]
    if not keys:
        return []
    return [
        tuple(r)
        for r in conn.execute(
            _OUR_TEXTS_BATCH,
            {"accs": [k[0] for k in keys], "types": [k[1] for k in keys], "tids": [k[2] for k in keys]},
        )
    ]


__all__ = [
    "lock_posts",
    "record_our_comment",
    "forget_our_comment",
    "our_comment_texts",
    "our_comment_texts_batch",
]
