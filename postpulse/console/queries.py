"""What the console's pages show, as plain queries on the store (no web framework here).

Every query takes ``workspaces``: the workspace ids the user may see for the page's permission,
or None for every workspace. Rows of accounts without a workspace are visible only to users
whose role holds in every workspace.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.crypto import Vault, VaultError, envelope_from_text
from postpulse.engagement.policy_store import PreloadedIdempotency, PreloadedUsage, blocklist_cache
from postpulse.engagement.repository import is_globally_paused, utcnow
from postpulse.engagement.secrets import dm_content_aad, queued_text_aad
from postpulse.engagement.targets import account_state
from postpulse.policy import (
    AccountSettings,
    ActionRequest,
    PolicyEngine,
    SettingsError,
    is_opt_out,
)

PAGE_SIZE = 50

#: SQL condition "the account a is in one of the user's workspaces" (:ws NULL = every workspace)
IN_SCOPE = "(CAST(:ws AS text[]) IS NULL OR a.workspace_id = ANY(CAST(:ws AS text[])))"


def workspaces(conn: Connection, scope: list[str] | None) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT id, name FROM workspaces WHERE CAST(:ws AS text[]) IS NULL "
                "OR id = ANY(CAST(:ws AS text[])) ORDER BY name"
            ),
            {"ws": scope},
        ).mappings()
    ]


def account_in_scope(conn: Connection, account_id: str, scope: list[str] | None) -> dict | None:
    return (
        conn.execute(
            text(f"SELECT a.* FROM accounts a WHERE a.id = :i AND {IN_SCOPE}"), {"i": account_id, "ws": scope}
        )
        .mappings()
        .first()
    )


def accounts_in_scope(conn: Connection, scope: list[str] | None) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT a.id, a.platform, a.username, a.workspace_id, w.name AS workspace, a.status, "
                "a.health, "
                "a.is_active, a.is_authorized, a.needs_relogin, a.frozen_until, a.frozen_reason, a.settings, "
                "a.timezone, a.session_updated_at, (a.session_encrypted IS NOT NULL) AS has_session, "
                "a.last_error_message, a.last_error_at, a.last_used_at FROM accounts a "
                f"LEFT JOIN workspaces w ON w.id = a.workspace_id WHERE {IN_SCOPE} ORDER BY a.platform, "
                "a.username"
            ),
            {"ws": scope},
        ).mappings()
    ]


# -- the approval inbox ---------------------------------------------------------------------------

_QUEUED = f"""
SELECT q.id, q.account_id, q.action_type, q.target_type, q.target_id, q.target_url, q.target_username,
       q.action_params, q.text_hash, q.status, q.expires_at, q.approved_at, q.priority, q.created_at,
       q.user_notes, q.scheduled_for,
       a.platform, a.username, a.workspace_id, a.is_authorized, a.is_active, a.settings, a.timezone,
       a.frozen_until, a.frozen_reason, a.needs_relogin,
       p.text_content AS post_text, p.url AS post_url, p.platform_post_id AS post_platform_id,
       p.author_username AS post_author,
       t.participant_username AS thread_participant
FROM action_queue q
JOIN accounts a ON a.id = q.account_id
LEFT JOIN posts p ON p.id = q.post_id
LEFT JOIN dm_threads t ON q.target_type = 'dm_thread' AND t.id = q.target_id AND t.account_id = q.account_id
WHERE q.status = 'queued' AND {IN_SCOPE} AND (CAST(:one AS text) IS NULL OR q.id = :one)
  AND (CAST(:bt AS timestamptz) IS NULL OR (q.created_at <= :bt AND (q.created_at < :bt OR q.id > :bid)))
ORDER BY q.created_at DESC, q.id
LIMIT :n
"""


#: queued actions are counted up to this many ("10,000+" beyond: an exact count of a long queue
#: costs more than the rest of the page)
COUNT_CAP = 10_000


def queued_count(conn: Connection, scope: list[str] | None) -> int:
    """Queued actions in the user's workspaces, counted up to ``COUNT_CAP`` + 1."""
    return conn.execute(
        text(
            "SELECT count(*) FROM (SELECT 1 FROM action_queue q JOIN accounts a ON a.id = q.account_id "
            f"WHERE q.status = 'queued' AND {IN_SCOPE} LIMIT :cap) c"
        ),
        {"ws": scope, "cap": COUNT_CAP + 1},
    ).scalar_one()


def queued_actions(
    conn: Connection,
    engine: Engine,
    scope: list[str] | None,
    vault: Vault | None,
    *,
    show_private: bool,
    after: tuple[datetime, str] | None = None,
    limit: int = PAGE_SIZE,
    action_id: str | None = None,
) -> list[dict]:
    """Queued actions newest first, each with the policy's answer as if it were approved now
    (read-only: the engine evaluates, nothing is claimed or written) and the limits left today.
    DM text is decrypted for the policy's checks and shown only when ``show_private``. ``after``
    is the (created_at, id) of the last row of the previous page (keyset paging: no OFFSET)."""
    now = utcnow()
    rows = [
        dict(r)
        for r in conn.execute(
            text(_QUEUED),
            {
                "ws": scope,
                "n": limit,
                "one": action_id,
                "bt": after[0] if after else None,
                "bid": after[1] if after else None,
            },
        ).mappings()
    ]
    if not rows:
        return []
    paused = is_globally_paused(conn)
    usage = PreloadedUsage(conn, [(r["account_id"], r["action_type"]) for r in rows], now)
    idem = PreloadedIdempotency(conn, [(r["account_id"], r["action_type"], r["target_id"]) for r in rows])
    blocklists = blocklist_cache(engine)
    first = True
    for r in rows:
        params = dict(r["action_params"] or {})
        text_value = params.get("text")
        private = "text_encrypted" in params
        if private:
            text_value = None
            if vault is not None:
                try:
                    text_value = vault.decrypt_text(
                        envelope_from_text(params["text_encrypted"]), queued_text_aad(r["id"])
                    )
                except VaultError:
                    text_value = None
        r["private"] = private
        r["text"] = text_value if (show_private or not private) else None
        try:
            settings = AccountSettings.parse(r["settings"] or {})
        except SettingsError as exc:
            r["decision"] = {"outcome": "defer", "reason_code": "invalid_settings", "message": str(exc)}
            r["limit_left"] = None
            continue
        blocklist = blocklists.get(conn, r["account_id"], check=first)
        first = False
        request_params = {k: v for k, v in params.items() if k not in ("text_encrypted", "variables")}
        if text_value is not None:
            request_params["text"] = text_value
        if r["post_platform_id"]:
            request_params.setdefault("platform_post_id", r["post_platform_id"])
        request = ActionRequest(
            action_id=r["id"],
            account_id=r["account_id"],
            platform=r["platform"],
            action_type=r["action_type"],
            target_type=r["target_type"],
            target_id=r["target_id"],
            target_username=r["target_username"] or r["thread_participant"],
            target_text=r["post_text"],
            target_url=r["target_url"] or r["post_url"],
            params=request_params,
            approved=True,
            expires_at=r["expires_at"],
        )
        account = account_state(r, settings)
        d = PolicyEngine(blocklist, usage=usage, idempotency=idem, global_paused=paused).decide(
            request, account, now
        )
        r["decision"] = {"outcome": d.outcome, "reason_code": str(d.reason_code), "message": d.message}
        limit = settings.limit_for(r["action_type"])
        used = usage.count_actions(r["account_id"], r["action_type"], now - timedelta(days=1))
        r["limit_left"] = {"left": max(0, limit.per_day - used), "per_day": limit.per_day}
        r.pop("settings", None)
    return rows


def actions_in_scope(conn: Connection, ids: list[str], scope: list[str] | None) -> list[str]:
    """Of ``ids``, those whose account is in the user's workspaces (others are treated as absent)."""
    if not ids:
        return []
    return list(
        conn.execute(
            text(
                f"SELECT q.id FROM action_queue q JOIN accounts a ON a.id = q.account_id "
                f"WHERE q.id = ANY(CAST(:ids AS text[])) AND {IN_SCOPE}"
            ),
            {"ids": ids, "ws": scope},
        ).scalars()
    )


def queued_ids(conn: Connection, scope: list[str] | None, limit: int) -> list[str]:
    return list(
        conn.execute(
            text(
                f"SELECT q.id FROM action_queue q JOIN accounts a ON a.id = q.account_id "
                f"WHERE q.status = 'queued' AND {IN_SCOPE} ORDER BY q.created_at DESC, q.id LIMIT :n"
            ),
            {"ws": scope, "n": limit},
        ).scalars()
    )


# -- the unified inbox ------------------------------------------------------------------------------


def dm_threads(
    conn: Connection, scope: list[str] | None, *, offset: int = 0, limit: int = PAGE_SIZE
) -> list[dict]:
    """DM threads, newest message first (metadata only: no text)."""
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT t.id, t.platform, t.participant_username, t.participant_display_name, "
                "t.last_message_at, "
                "t.unread_count, a.id AS account_id, a.username AS account, "
                "EXISTS (SELECT 1 FROM blocklist_entries b WHERE b.added_by = 'opt_out' AND b.entry_type = "
                "'user' "
                "AND lower(b.value) = lower(t.participant_username) "
                "AND (b.platform IS NULL OR b.platform = t.platform)) AS opted_out "
                f"FROM dm_threads t JOIN accounts a ON a.id = t.account_id WHERE {IN_SCOPE} AND NOT "
                "t.is_archived "
                "ORDER BY t.last_message_at DESC NULLS LAST, t.id LIMIT :n OFFSET :off"
            ),
            {"ws": scope, "n": limit, "off": offset},
        ).mappings()
    ]


def unread_total(conn: Connection, scope: list[str] | None) -> int:
    return conn.execute(
        text(
            "SELECT coalesce(sum(t.unread_count), 0) FROM dm_threads t JOIN accounts a ON a.id = "
            "t.account_id "
            f"WHERE {IN_SCOPE} AND NOT t.is_archived"
        ),
        {"ws": scope},
    ).scalar_one()


def dm_thread(conn: Connection, thread_id: str, scope: list[str] | None) -> dict | None:
    row = (
        conn.execute(
            text(
                "SELECT t.id, t.platform, t.participant_username, t.participant_display_name, "
                "t.unread_count, "
                "t.last_message_at, a.id AS account_id, a.username AS account FROM dm_threads t "
                f"JOIN accounts a ON a.id = t.account_id WHERE t.id = :t AND {IN_SCOPE}"
            ),
            {"t": thread_id, "ws": scope},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def dm_messages(conn: Connection, thread_id: str, vault: Vault | None, *, decrypt: bool) -> list[dict]:
    """A thread's messages, oldest first. Decrypted in memory only when ``decrypt`` (never
    stored or cached in plain text); each says whether it reads as an opt-out."""
    out = []
    for r in conn.execute(
        text(
            "SELECT id, is_from_us, sender_username, content_encrypted, sent_at, content_redacted_at "
            "FROM dm_messages WHERE thread_id = :t ORDER BY sent_at NULLS FIRST, discovered_at LIMIT 500"
        ),
        {"t": thread_id},
    ).mappings():
        content = None
        if r["content_encrypted"] is not None and vault is not None:
            try:
                content = vault.decrypt_text(bytes(r["content_encrypted"]), dm_content_aad(r["id"]))
            except VaultError:
                content = None
        out.append(
            {
                "id": r["id"],
                "from_us": r["is_from_us"],
                "sender": r["sender_username"],
                "sent_at": r["sent_at"],
                "redacted": r["content_redacted_at"] is not None,
                "opt_out": bool(content) and not r["is_from_us"] and is_opt_out(content),
                "text": content if decrypt else None,
            }
        )
    return out


def mark_thread_read(conn: Connection, thread_id: str) -> None:
    conn.execute(
        text("UPDATE dm_threads SET unread_count = 0 WHERE id = :t AND unread_count > 0"), {"t": thread_id}
    )
    conn.execute(
        text("UPDATE dm_messages SET is_read = true WHERE thread_id = :t AND NOT is_read"), {"t": thread_id}
    )


def comments_on_our_posts(
    conn: Connection, scope: list[str] | None, *, offset: int = 0, limit: int = PAGE_SIZE
) -> list[dict]:
    """Others' comments on posts of our accounts, newest first."""
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT c.id, c.platform, c.platform_comment_id, c.author_username, c.text, c.posted_at, "
                "c.first_seen_at, p.platform_post_id, p.text_content AS post_text, a.id AS account_id, "
                "a.username AS account FROM comments c JOIN posts p ON p.id = c.post_id "
                "JOIN accounts a ON a.id = p.account_id "
                f"WHERE NOT c.is_ours AND {IN_SCOPE} "
                "ORDER BY coalesce(c.posted_at, c.first_seen_at) DESC, c.id LIMIT :n OFFSET :off"
            ),
            {"ws": scope, "n": limit, "off": offset},
        ).mappings()
    ]


def comment_in_scope(conn: Connection, comment_id: str, scope: list[str] | None) -> dict | None:
    row = (
        conn.execute(
            text(
                "SELECT c.id, c.platform_comment_id, p.platform_post_id, a.id AS account_id FROM comments c "
                "JOIN posts p ON p.id = c.post_id JOIN accounts a ON a.id = p.account_id "
                f"WHERE c.id = :c AND NOT c.is_ours AND {IN_SCOPE}"
            ),
            {"c": comment_id, "ws": scope},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def describe_account(acc: dict, now=None) -> dict[str, Any]:
    """An account's state in words, with what to do when it cannot act."""
    now = now or utcnow()
    problems = []
    if acc["frozen_until"] is not None and acc["frozen_until"] > now:
        problems.append(
            {
                "kind": "frozen",
                "message": f"frozen until {acc['frozen_until']:%Y-%m-%d %H:%M} UTC: "
                f"{acc['frozen_reason'] or 'a block signal from the platform'}",
                "fix": "wait until then; if you are sure the block is over, lift the freeze below "
                f"(or `postpulse accounts resume {acc['username']}`)",
            }
        )
    if acc["needs_relogin"] or not acc["has_session"]:
        problems.append(
            {
                "kind": "logged_out",
                "message": "no valid session: " + (acc["last_error_message"] or "not logged in"),
                "fix": f"log in again: `postpulse accounts login {acc['username']}`",
            }
        )
    if not acc["is_active"]:
        problems.append(
            {
                "kind": "paused",
                "message": "paused: its actions wait",
                "fix": "resume it below (or `postpulse accounts resume " + acc["username"] + "`)",
            }
        )
    if not acc["is_authorized"]:
        problems.append(
            {
                "kind": "not_authorized",
                "message": "not authorized for actions",
                "fix": f"`postpulse accounts authorize {acc['username']}` once you own it",
            }
        )
    try:
        settings = AccountSettings.parse(acc["settings"] or {})
        limits = {k: (v.per_hour, v.per_day) for k, v in sorted(settings.rate_limits.items())}
        quiet = settings.quiet_hours.describe(acc["timezone"])
        settings_error = None
    except SettingsError as exc:
        limits, quiet, settings_error = {}, "", str(exc)
    return {"problems": problems, "limits": limits, "quiet": quiet, "settings_error": settings_error}
