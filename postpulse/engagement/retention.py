"""Retention of audit entries, attempts, posts, DM content and screenshots, run nightly by the
``engagement_retention`` schedule.

================ ========== ================================================================
data             kept       rule
================ ========== ================================================================
audit entries    1 year     deleted when ``timestamp`` is older
action attempts  1 year     deleted when ``attempted_at`` is older (their verifications go too)
posts            90 days    deleted when first seen more than 90 days ago, unless engaged:
                            ``engagement_status <> 'not_engaged'``, referenced by a queued
                            action or an attempt, carrying one of our comments or replies
                            (``comments.is_ours``), or one of our own accounts' posts
DM content       30 days    ``content_encrypted`` set to NULL, ``content_redacted_at`` set
                            (the row, sender and time stay); thread previews likewise
screenshots      7 days     files under ``<POSTPULSE_HOME>/screenshots`` deleted, their
                            ``action_attempts.screenshot_path`` cleared
sessions         until      ``postpulse accounts logout`` deletes a stored session
                 logout
================ ========== ================================================================

Each run writes one ``retention`` audit entry with the counts (after deleting old audit).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from postpulse import config

from . import audit

AUDIT_DAYS = 365
ATTEMPT_DAYS = 365
POST_DAYS = 90
DM_CONTENT_DAYS = 30
SCREENSHOT_DAYS = 7


def screenshot_dir() -> Path:
    return config.data_dir() / "screenshots"


def run_retention(
    engine: Engine,
    now: datetime,
    *,
    screenshots: Path | None = None,
    run_id: str = "retention",
    dry_run: bool = False,
) -> dict[str, int]:
    if now.tzinfo is None:
        raise ValueError("run_retention needs an aware 'now'")
    t0 = time.perf_counter()
    shots = screenshots or screenshot_dir()
    p = {
        "audit": now - timedelta(days=AUDIT_DAYS),
        "att": now - timedelta(days=ATTEMPT_DAYS),
        "posts": now - timedelta(days=POST_DAYS),
        "dm": now - timedelta(days=DM_CONTENT_DAYS),
        "shot": now - timedelta(days=SCREENSHOT_DAYS),
        "now": now,
    }
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        q_audit = 'DELETE FROM audit_entries WHERE "timestamp" < :audit'
        q_att = "DELETE FROM action_attempts WHERE attempted_at < :att"
        q_posts = (
            "DELETE FROM posts p WHERE p.first_seen_at < :posts AND p.engagement_status = 'not_engaged' "
            "AND p.account_id IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM action_queue q WHERE q.post_id = p.id "
            "  OR (q.target_type = 'post' AND q.target_id IN (p.id, p.platform_post_id))) "
            "AND NOT EXISTS (SELECT 1 FROM action_attempts a WHERE a.target_type = 'post' "
            "  AND a.target_id IN (p.id, p.platform_post_id)) "
            "AND NOT EXISTS (SELECT 1 FROM comments c WHERE c.post_id = p.id AND c.is_ours)"
        )
        q_dm = (
            "UPDATE dm_messages SET content_encrypted = NULL, key_id = NULL, content_redacted_at = :now "
            "WHERE content_encrypted IS NOT NULL AND coalesce(sent_at, discovered_at) < :dm"
        )
        q_prev = (
            "UPDATE dm_threads SET last_message_preview_encrypted = NULL "
            "WHERE last_message_preview_encrypted IS NOT NULL AND coalesce(last_message_at, discovered_at) "
            "< :dm"
        )
        if dry_run:
            for name, q in (
                ("audit_entries_deleted", q_audit),
                ("action_attempts_deleted", q_att),
                ("posts_deleted", q_posts),
                ("dm_messages_redacted", q_dm),
                ("dm_previews_redacted", q_prev),
            ):
                sel = (
                    ("SELECT 1 FROM " + q.split("FROM", 1)[1])
                    if q.startswith("DELETE")
                    else "SELECT 1 FROM "
                    + q.split("UPDATE", 1)[1].split(" SET ")[0]
                    + " WHERE "
                    + q.split(" WHERE ", 1)[1]
                )
                counts[name] = int(conn.execute(text(f"SELECT count(*) FROM ({sel}) x"), p).scalar_one())
        else:
            counts["audit_entries_deleted"] = conn.execute(text(q_audit), p).rowcount
            counts["action_attempts_deleted"] = conn.execute(text(q_att), p).rowcount
            counts["posts_deleted"] = conn.execute(text(q_posts), p).rowcount
            counts["dm_messages_redacted"] = conn.execute(text(q_dm), p).rowcount
            counts["dm_previews_redacted"] = conn.execute(text(q_prev), p).rowcount
        removed = 0
        cutoff = p["shot"].timestamp()
        old_files: list[Path] = []
        if shots.is_dir():
            for f in shots.iterdir():
                try:
                    if f.is_file() and f.stat().st_mtime < cutoff:
                        old_files.append(f)
                except OSError:
                    continue
        if not dry_run:
            for f in old_files:
                try:
                    f.unlink()
                    removed += 1
                except OSError:
                    pass
            if old_files:
                conn.execute(
                    text("UPDATE action_attempts SET screenshot_path = NULL WHERE screenshot_path = ANY(:p)"),
                    {"p": [str(f) for f in old_files]},
                )
        counts["screenshots_deleted"] = removed if not dry_run else len(old_files)
        if not dry_run:
            audit.record(
                conn,
                run_id=run_id,
                step_id="retention",
                event_type="retention",
                outcome="success",
                at=now,
                duration_ms=int((time.perf_counter() - t0) * 1000),
                details=dict(counts),
            )
    return counts
