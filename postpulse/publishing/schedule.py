"""Scheduling an approved item: validate every variant, then one ``publications`` row per variant."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.ids import insert_with_new_id
from postpulse.timeutil import as_utc

from .errors import PublishingError, ValidationFailed
from .items import cancel_pending_publications, get_item_row, transition, variant_drafts, variants
from .validation import check_variant


def validate_item(conn: Connection, item_id: str, rows: list[dict] | None = None) -> list[str]:
    """What stops the item from being scheduled (empty: nothing); ``rows`` are its ``variants``
    when already read."""
    item = get_item_row(conn, item_id)
    rows = rows if rows is not None else variants(conn, item_id)
    problems: list[str] = []
    for draft in variant_drafts(conn, item, rows):
        problems.extend(check_variant(draft))
    for v in rows:
        if not v["has_session"]:
            problems.append(
                f"variant {v['id']} ({v['platform']} @{v['username']}): the account has no stored session; "
                f"run `postpulse accounts login {v['username']}`"
            )
        if not v["is_authorized"]:
            problems.append(
                f"variant {v['id']} ({v['platform']} @{v['username']}): the account is not authorized; "
                f"run `postpulse accounts authorize {v['username']}`"
            )
    return problems


def schedule_item(conn: Connection, item_id: str, at: datetime, *, actor: str = "user") -> list[str]:
    """Validate and schedule; returns the ids of the publications created. Variants already
    published (after a partial failure) are not scheduled again."""
    at = as_utc(at)
    item = get_item_row(conn, item_id, lock=True)
    if item["status"] not in ("approved", "failed"):
        transition(conn, item_id, "scheduled", reason="scheduled", actor=actor)  # raises with the fix
    rows = variants(conn, item_id)
    problems = validate_item(conn, item_id, rows)
    if problems:
        raise ValidationFailed(problems)
    created: list[str] = []
    drafts = {d.variant_id: d for d in variant_drafts(conn, item, rows)}
    for v in rows:
        live = conn.execute(
            text(
                "SELECT status FROM publications WHERE variant_id = :v AND status IN ('scheduled', "
                "'publishing', 'published')"
            ),
            {"v": v["id"]},
        ).scalar()
        if live == "published":
            continue
        if live is not None:
            raise PublishingError(f"variant {v['id']} is already {live}", fix="cancel the item first")
        d = drafts[v["id"]]
        media = [
            {
                "media_id": m["id"],
                "sha256": m["sha256"],
                "media_type": m["media_type"],
                "mime_type": m["mime_type"],
                "stored_path": m["stored_path"],
                "alt_text": m.get("alt_text"),
            }
            for m in d.media
        ]
        ctype = (
            "text" if not media else ("video" if any(m["media_type"] == "video" for m in media) else "image")
        )
        row = insert_with_new_id(
            conn,
            "publications",
            {
                "workspace_id": item["workspace_id"],
                "account_id": v["account_id"],
                "title": item["title"],
                "content": d.text,
                "content_type": ctype if len(media) <= 1 else "carousel",
                "status": "scheduled",
                "scheduled_for": at,
                "content_item_id": item_id,
                "variant_id": v["id"],
                "media": json.dumps(media),
            },
        )
        created.append(row["id"])
    transition(
        conn,
        item_id,
        "scheduled",
        reason=f"scheduled for {at:%Y-%m-%d %H:%M} UTC",
        actor=actor,
        scheduled_for=at,
    )
    return created


def reschedule_item(conn: Connection, item_id: str, at: datetime, *, actor: str = "user") -> list[str]:
    """Move a scheduled item to another time: its pending publications are cancelled and it is
    scheduled again (validated anew); returns the new publications' ids."""
    cancel_pending_publications(conn, item_id, f"rescheduled by {actor}")
    transition(conn, item_id, "approved", reason="rescheduling", actor=actor)
    return schedule_item(conn, item_id, at, actor=actor)
