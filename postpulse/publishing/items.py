"""Content items (drafts), their per-account variants and their lifecycle.

draft -> in_review -> approved -> scheduled -> publishing -> published | failed | cancelled.
Every status change is logged in ``content_item_history`` by a database trigger; the reason and
actor are passed through transaction-local settings. Editing an approved or scheduled item sends
it back to review (its pending publications are cancelled).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.agency.workspaces import ensure_workspace, get_workspace
from postpulse.engagement.repository import get_account
from postpulse.ids import insert_with_new_id

from .errors import InvalidTransition, NotFound, PublishingError
from .media import store_media
from .validation import VariantDraft

TRANSITIONS: dict[str, set[str]] = {
    "draft": {"in_review", "cancelled"},
    "in_review": {"approved", "draft", "cancelled"},
    "approved": {"scheduled", "in_review", "cancelled"},
    "scheduled": {"publishing", "in_review", "cancelled", "approved", "failed"},
    "publishing": {"published", "failed", "scheduled"},
    "published": set(),
    "failed": {"scheduled", "in_review", "cancelled"},
    "cancelled": {"draft"},
}
EDITABLE = {"draft", "in_review", "approved", "scheduled", "failed", "cancelled"}


@dataclass
class MediaSpec:
    path: str
    alt_text: str | None = None


@dataclass
class ItemInput:
    text: str | None = None
    title: str | None = None
    media: list[MediaSpec] | None = None
    links: list[str] | None = None
    tags: list[str] | None = None
    notes: str | None = None
    accounts: list[str] = field(default_factory=list)


def resolve_workspace(conn: Connection, ref: str | None) -> str:
    """A workspace by id or name; without one, the only workspace ('default' is created on first
    use)."""
    if ref:
        return get_workspace(conn, ref)["id"]
    ids = conn.execute(text("SELECT id FROM workspaces ORDER BY created_at LIMIT 2")).scalars().all()
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise PublishingError("there are several workspaces", fix="pass --workspace NAME")
    return ensure_workspace(conn, "default")["id"]


def _set_reason(conn: Connection, reason: str, actor: str) -> None:
    conn.execute(
        text(
            "SELECT set_config('postpulse.transition_reason', :r, true), "
            "set_config('postpulse.transition_by', :a, true)"
        ),
        {"r": reason[:500], "a": actor[:100]},
    )


def get_item_row(conn: Connection, item_id: str, *, lock: bool = False) -> dict:
    row = (
        conn.execute(
            text("SELECT * FROM content_items WHERE id = :i" + (" FOR UPDATE" if lock else "")),
            {"i": item_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no content item {item_id}", fix="see `postpulse content list`")
    return dict(row)


def transition(conn: Connection, item_id: str, to: str, *, reason: str, actor: str = "user", **extra) -> dict:
    item = get_item_row(conn, item_id, lock=True)
    if to not in TRANSITIONS[item["status"]]:
        raise InvalidTransition(
            f"content item {item_id} is {item['status']}; it cannot become {to}",
            fix=_hint(item["status"]),
        )
    _set_reason(conn, reason, actor)
    sets = ", ".join(["status = :to", *(f"{k} = :{k}" for k in extra)])
    conn.execute(text(f"UPDATE content_items SET {sets} WHERE id = :i"), {"to": to, "i": item_id, **extra})
    return get_item_row(conn, item_id)


def _hint(status: str) -> str:
    return {
        "draft": "submit it for review first (`postpulse content submit`)",
        "in_review": "approve it first (`postpulse content approve`)",
        "approved": "schedule it (`postpulse content schedule`)",
        "publishing": "wait until publishing ends",
        "published": "it is published; create a new item to post again",
        "cancelled": "edit it to start again as a draft",
    }.get(status, "see `postpulse content show`")


def _attach_media(conn: Connection, item_id: str, media: list[MediaSpec]) -> None:
    conn.execute(text("DELETE FROM content_item_media WHERE content_item_id = :i"), {"i": item_id})
    for pos, spec in enumerate(media):
        row = store_media(conn, spec.path)
        conn.execute(
            text(
                "INSERT INTO content_item_media (content_item_id, media_id, position, alt_text) "
                "VALUES (:i, :m, :p, :a)"
            ),
            {"i": item_id, "m": row["id"], "p": pos, "a": spec.alt_text},
        )


def add_variant(
    conn: Connection,
    item_id: str,
    account: str,
    *,
    text_override: str | None = None,
    media: list[MediaSpec] | None = None,
) -> dict:
    acc = get_account(conn, account)
    override = None
    if media is not None:
        override = [{"media_id": store_media(conn, m.path)["id"], "alt_text": m.alt_text} for m in media]
    existing = conn.execute(
        text("SELECT id FROM content_variants WHERE content_item_id = :i AND account_id = :a"),
        {"i": item_id, "a": acc["id"]},
    ).scalar()
    if existing:
        conn.execute(
            text(
                "UPDATE content_variants SET text_override = coalesce(:t, text_override), "
                "media_override = CASE WHEN CAST(:m AS jsonb) IS NULL THEN media_override ELSE "
                "CAST(:m AS jsonb) END "
                "WHERE id = :v"
            ),
            {"t": text_override, "m": json.dumps(override) if override is not None else None, "v": existing},
        )
        return {"id": existing, "account_id": acc["id"]}
    return insert_with_new_id(
        conn,
        "content_variants",
        {
            "content_item_id": item_id,
            "account_id": acc["id"],
            "text_override": text_override,
            "media_override": json.dumps(override) if override is not None else None,
        },
        returning=("id", "account_id"),
    )


def edit_variant(
    conn: Connection,
    item_id: str,
    account: str,
    *,
    text_override: str | None = None,
    media: list[MediaSpec] | None = None,
    actor: str = "user",
) -> dict:
    """Override one variant's text or media; an approved or scheduled item goes back to review."""
    item = get_item_row(conn, item_id, lock=True)
    if item["status"] not in EDITABLE:
        raise InvalidTransition(
            f"content item {item_id} is {item['status']}; it cannot be edited", fix=_hint(item["status"])
        )
    row = add_variant(conn, item_id, account, text_override=text_override, media=media)
    after_edit(conn, item_id, actor=actor)
    return row


def create_item(
    conn: Connection, data: ItemInput, *, workspace: str | None = None, actor: str = "user"
) -> str:
    if not data.accounts:
        raise PublishingError("a content item needs at least one account to publish to", fix="pass --account")
    if not (data.text or data.media):
        raise PublishingError("a content item needs text or media", fix="pass --text or --media")
    wid = resolve_workspace(conn, workspace)
    _set_reason(conn, "created", actor)
    row = insert_with_new_id(
        conn,
        "content_items",
        {
            "workspace_id": wid,
            "content_type": "post",
            "title": data.title,
            "text_content": data.text or "",
            "links": json.dumps(data.links or []),
            "tags": json.dumps(sorted({t.strip().lower() for t in data.tags or [] if t.strip()})),
            "notes": data.notes,
            "created_by": actor,
        },
    )
    _attach_media(conn, row["id"], data.media or [])
    for acc in data.accounts:
        add_variant(conn, row["id"], acc)
    return row["id"]


def edit_item(conn: Connection, item_id: str, data: ItemInput, *, actor: str = "user") -> dict:
    """Change an item; an approved or scheduled item goes back to review."""
    item = get_item_row(conn, item_id, lock=True)
    if item["status"] not in EDITABLE:
        raise InvalidTransition(
            f"content item {item_id} is {item['status']}; it cannot be edited", fix=_hint(item["status"])
        )
    sets: dict[str, object] = {}
    if data.text is not None:
        sets["text_content"] = data.text
    if data.title is not None:
        sets["title"] = data.title
    if data.notes is not None:
        sets["notes"] = data.notes
    if data.links is not None:
        sets["links"] = json.dumps(data.links)
    if data.tags is not None:
        sets["tags"] = json.dumps(sorted({t.strip().lower() for t in data.tags if t.strip()}))
    if sets:
        casts = {"links": "CAST(:links AS jsonb)", "tags": "CAST(:tags AS jsonb)"}
        sql = ", ".join(f"{k} = {casts.get(k, ':' + k)}" for k in sets)
        conn.execute(text(f"UPDATE content_items SET {sql} WHERE id = :i"), {**sets, "i": item_id})
    if data.media is not None:
        _attach_media(conn, item_id, data.media)
    for acc in data.accounts:
        add_variant(conn, item_id, acc)
    after_edit(conn, item_id, actor=actor)
    return get_item_row(conn, item_id)


def after_edit(conn: Connection, item_id: str, *, actor: str) -> None:
    item = get_item_row(conn, item_id)
    if item["status"] in ("approved", "scheduled", "failed"):
        cancel_pending_publications(conn, item_id, "the item was edited after approval")
        transition(
            conn,
            item_id,
            "in_review",
            reason="edited after approval",
            actor=actor,
            approved_at=None,
            approved_by=None,
        )
    elif item["status"] == "cancelled":
        transition(conn, item_id, "draft", reason="edited after cancelling", actor=actor)


def cancel_pending_publications(conn: Connection, item_id: str, why: str) -> int:
    return conn.execute(
        text(
            "UPDATE publications SET status = 'cancelled', error_message = :w "
            "WHERE content_item_id = :i AND status = 'scheduled'"
        ),
        {"i": item_id, "w": why},
    ).rowcount


def submit(conn: Connection, item_id: str, *, actor: str = "user") -> dict:
    return transition(conn, item_id, "in_review", reason="submitted for review", actor=actor)


def approve(conn: Connection, item_id: str, *, actor: str = "user") -> dict:
    return transition(
        conn, item_id, "approved", reason="approved", actor=actor, approved_at=_now(conn), approved_by=actor
    )


def cancel(conn: Connection, item_id: str, *, actor: str = "user") -> dict:
    item = get_item_row(conn, item_id, lock=True)
    if item["status"] == "publishing":
        raise InvalidTransition(
            f"content item {item_id} is being published right now", fix="cancel again once the run ends"
        )
    n = cancel_pending_publications(conn, item_id, "cancelled by " + actor)
    return transition(conn, item_id, "cancelled", reason=f"cancelled ({n} pending publications)", actor=actor)


def _now(conn: Connection):
    return conn.execute(text("SELECT now()")).scalar_one()


_MEDIA = """
SELECT m.*, cm.alt_text, cm.position FROM content_item_media cm JOIN media_assets m ON m.id = cm.media_id
WHERE cm.content_item_id = :i ORDER BY cm.position
"""


def item_media(conn: Connection, item_id: str) -> list[dict]:
    return [dict(r) for r in conn.execute(text(_MEDIA), {"i": item_id}).mappings()]


def variants(conn: Connection, item_id: str) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT v.*, a.platform, a.username, a.metadata AS account_metadata, a.is_authorized, "
                "a.session_encrypted IS NOT NULL AS has_session FROM content_variants v "
                "JOIN accounts a ON a.id = v.account_id WHERE v.content_item_id = :i ORDER BY "
                "v.created_at, v.id"
            ),
            {"i": item_id},
        ).mappings()
    ]


def rules_platform(platform: str, metadata: dict | None) -> str:
    """Whose rules a variant follows: the account's platform (a sandbox account plays its site)."""
    if platform == "sandbox":
        return (metadata or {}).get("sandbox_site") or "x"
    return platform


def variant_drafts(conn: Connection, item: dict, rows: list[dict] | None = None) -> list[VariantDraft]:
    """What each variant would publish; ``rows`` are the item's ``variants`` when already read."""
    base_media = item_media(conn, item["id"])
    out = []
    for v in rows if rows is not None else variants(conn, item["id"]):
        media = base_media
        if v["media_override"] is not None:
            media = []
            for entry in v["media_override"]:
                m = (
                    conn.execute(text("SELECT * FROM media_assets WHERE id = :m"), {"m": entry["media_id"]})
                    .mappings()
                    .one()
                )
                media.append({**dict(m), "alt_text": entry.get("alt_text")})
        out.append(
            VariantDraft(
                variant_id=v["id"],
                platform=rules_platform(v["platform"], v["account_metadata"]),
                username=v["username"],
                text=v["text_override"] if v["text_override"] is not None else (item["text_content"] or ""),
                media=media,
                links=list(item["links"] or []),
            )
        )
    return out


def history(conn: Connection, item_id: str) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text("SELECT * FROM content_item_history WHERE content_item_id = :i ORDER BY created_at, id"),
            {"i": item_id},
        ).mappings()
    ]


def list_items(
    conn: Connection, *, workspace: str | None = None, status: str | None = None, limit: int = 200
) -> list[dict]:
    wid = resolve_workspace(conn, workspace) if workspace else None
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT c.id, c.status, c.title, c.text_content, c.scheduled_for, c.updated_at, "
                "w.name AS workspace, "
                "(SELECT count(*) FROM content_variants v WHERE v.content_item_id = c.id) AS variants "
                "FROM content_items c JOIN workspaces w ON w.id = c.workspace_id "
                "WHERE c.content_type = 'post' AND (CAST(:w AS text) IS NULL OR c.workspace_id = :w) "
                "AND (CAST(:s AS text) IS NULL OR c.status = :s) ORDER BY coalesce(c.scheduled_for, "
                "c.created_at) DESC "
                "LIMIT :n"
            ),
            {"w": wid, "s": status, "n": limit},
        ).mappings()
    ]
