"""Accounts, the action queue and the global switches, on the store (SQLAlchemy Core, no ORM).

Action lifecycle (queue and approval)::

    queued --approve--> approved --claim--> in_progress --> completed | failed
       |                   |  ^                   |
       |                   |  +---- deferred -----+   (scheduled_for = retry_at, last_reason_code)
       +--reject/cancel----+--> rejected | cancelled

An action is approved by a person (CLI, Dagster job ``approve_actions``) or, when the account's
settings auto-approve its type, at the moment it is queued (``approved_by = 'auto-approve'``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.errors import PostpulseError
from postpulse.ids import allocate_ids, insert_with_new_id, retry_on_id_collision
from postpulse.policy import (
    ACTION_TYPES,
    TEXT_ACTIONS,
    AccountSettings,
    SettingsError,
    TemplateError,
    text_hash,
)
from postpulse.policy.templates import render

from . import audit
from .secrets import queued_text_aad

TARGET_TYPES = ("post", "user", "dm_thread", "comment", "publication")
#: default target type per action type
DEFAULT_TARGET = {
    "like": "post",
    "unlike": "post",
    "comment": "post",
    "reply": "comment",
    "delete_comment": "comment",
    "dm_send": "user",
    "follow": "user",
    "unfollow": "user",
    "publish": "publication",
    "repost": "post",
    "delete_post": "post",
}
#: actions whose params carry text we send
#: private text: never stored in plain (encrypted in action_params.text_encrypted)
PRIVATE_TEXT_ACTIONS = ("dm_send",)
PLATFORMS = ("linkedin", "instagram", "tiktok", "x", "threads", "facebook", "youtube", "sandbox", "bluesky")


class NotFound(PostpulseError):
    pass


class InvalidAction(PostpulseError):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- accounts ----------------------------------------------------------------------------------


def add_account(
    conn: Connection,
    *,
    platform: str,
    username: str,
    authorize: bool = False,
    display_name: str | None = None,
    timezone: str = "UTC",
    settings: dict[str, Any] | None = None,
    platform_user_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict:
    platform = platform.strip().lower()
    if platform not in PLATFORMS:
        raise InvalidAction(f"unknown platform {platform!r}", fix=f"use one of {', '.join(PLATFORMS)}")
    handle = username.strip().lstrip("@")
    if not handle:
        raise InvalidAction("the username is empty")
    raw_settings = settings or {}
    try:
        AccountSettings.parse(raw_settings, source="account settings")
    except SettingsError as exc:
        raise InvalidAction(str(exc)) from None
    existing = conn.execute(
        text("SELECT id FROM accounts WHERE platform = :p AND lower(username) = lower(:u)"),
        {"p": platform, "u": handle},
    ).scalar()
    if existing:
        raise InvalidAction(f"account @{handle} on {platform} already exists ({existing})")
    values = {
        "platform": platform,
        "puid": platform_user_id or handle.lower(),
        "username": handle,
        "dn": display_name,
        "auth": authorize,
        "tz": timezone,
        "settings": json.dumps(raw_settings),
        "meta": json.dumps(metadata or {}),
    }

    def attempt() -> dict:
        (aid,) = allocate_ids(conn, "accounts", 1)
        conn.execute(
            text(
                "INSERT INTO accounts (id, platform, platform_user_id, username, display_name, "
                "is_authorized, timezone, settings, metadata, lifecycle_state) VALUES (:id, :platform, "
                ":puid, :username, :dn, :auth, :tz, CAST(:settings AS jsonb), CAST(:meta AS jsonb), "
                "'active')"
            ),
            {"id": aid, **values},
        )
        return {"id": aid}

    row = retry_on_id_collision(conn, "accounts", attempt)
    return get_account(conn, row["id"])


_ACCOUNT_COLS = (
    "id, platform, username, display_name, is_authorized, is_active, needs_relogin, frozen_until, "
    "frozen_reason, settings, timezone, status, session_encrypted IS NOT NULL AS has_session, "
    "session_updated_at, metadata, last_used_at, created_at"
)


def get_account(conn: Connection, ident: str, platform: str | None = None) -> dict:
    """An account by id (``acc-...``) or username (with ``platform`` when ambiguous)."""
    if ident.startswith("acc-"):
        row = (
            conn.execute(text(f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE id = :i"), {"i": ident})
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no account {ident}", fix="see `postpulse accounts list`")
        return dict(row)
    handle = ident.strip().lstrip("@")
    rows = (
        conn.execute(
            text(
                f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE lower(username) = lower(:u) "
                "AND (CAST(:p AS text) IS NULL OR platform = :p) ORDER BY platform"
            ),
            {"u": handle, "p": platform},
        )
        .mappings()
        .all()
    )
    if not rows:
        raise NotFound(
            f"no account @{handle}" + (f" on {platform}" if platform else ""),
            fix="add it with `postpulse accounts add --platform ... --username ...`",
        )
    if len(rows) > 1:
        raise InvalidAction(
            f"@{handle} exists on several platforms ({', '.join(r['platform'] for r in rows)})",
            fix="pass --platform",
        )
    return dict(rows[0])


def list_accounts(conn: Connection) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(f"SELECT {_ACCOUNT_COLS} FROM accounts ORDER BY platform, username")
        ).mappings()
    ]


def set_account_flags(conn: Connection, account_id: str, **flags: Any) -> None:
    allowed = {"is_authorized", "is_active", "needs_relogin", "frozen_until", "frozen_reason", "timezone"}
    bad = set(flags) - allowed
    if bad:
        raise ValueError(f"cannot set {bad}")
    if "timezone" in flags:
        from postpulse.policy.quiet_hours import TimezoneError, get_zone

        try:
            get_zone(flags["timezone"])
        except TimezoneError as exc:
            raise InvalidAction(str(exc)) from None
    sets = ", ".join(f"{k} = :{k}" for k in flags)
    conn.execute(text(f"UPDATE accounts SET {sets} WHERE id = :id"), {"id": account_id, **flags})
    if set(flags) & {"is_active", "needs_relogin", "frozen_until", "timezone"}:
        reevaluate_deferred(conn, account_id, why="account changed")


#: deferrals that depend on the account's settings or state: re-evaluated when those change
REEVALUATED_REASONS = (
    "quiet_hours",
    "rate_limit_hour",
    "rate_limit_day",
    "invalid_settings",
    "account_inactive",
    "account_frozen",
    "needs_relogin",
)


def reevaluate_deferred(
    conn: Connection, account_id: str, *, why: str = "settings changed", now: datetime | None = None
) -> list[str]:
    """The account's actions deferred by its settings or state (quiet hours, rate limits, frozen,
    inactive, ...) become due now: the next executor run decides them again under the new
    settings, and defers them again if they still must wait. Returns their ids."""
    now = now or utcnow()
    return list(
        conn.execute(
            text(
                "UPDATE action_queue SET scheduled_for = :now, system_notes = left(concat_ws(E'\\n', "
                "CAST(:note AS text), system_notes), 4000) WHERE account_id = :a AND status = 'approved' "
                "AND scheduled_for > :now AND last_reason_code = ANY(:codes) RETURNING id"
            ),
            {
                "now": now,
                "a": account_id,
                "codes": list(REEVALUATED_REASONS),
                "note": f"{now:%Y-%m-%d %H:%M} UTC due again: {why}",
            },
        ).scalars()
    )


def update_settings(
    conn: Connection, account_id: str, patch: dict[str, Any], *, due_again: list[str] | None = None
) -> dict:
    """Merge ``patch`` into the account's settings (top-level keys replaced), validated. The
    account's actions deferred by its settings are due again (their ids appended to
    ``due_again``)."""
    current = conn.execute(
        text("SELECT settings FROM accounts WHERE id = :id"), {"id": account_id}
    ).scalar_one()
    merged = {**(current or {}), **patch}
    try:
        AccountSettings.parse(merged, source=f"settings of {account_id}")
    except SettingsError as exc:
        raise InvalidAction(str(exc)) from None
    conn.execute(
        text("UPDATE accounts SET settings = CAST(:s AS jsonb) WHERE id = :id"),
        {"s": json.dumps(merged), "id": account_id},
    )
    ids = reevaluate_deferred(conn, account_id, why="settings changed")
    if due_again is not None:
        due_again.extend(ids)
    return merged


def account_alerts(
    conn: Connection, now: datetime | None = None, account_ids: list[str] | None = None
) -> list[dict]:
    """Accounts whose actions are held back, each with what to do: ``frozen`` (a block signal
    from the platform froze it until ``until``), ``needs_relogin`` (the stored session expired or
    is missing), ``paused`` (``postpulse accounts pause``). Shown by ``postpulse accounts list``,
    ``postpulse actions status``, the Dagster asset check ``engagement_accounts_ok`` and the
    executor run that saw the signal."""
    now = now or utcnow()
    rows = (
        conn.execute(
            text(
                "SELECT id, username, platform, frozen_until, frozen_reason, needs_relogin, is_active, "
                "is_authorized, last_error_message FROM accounts WHERE (frozen_until > :now "
                "OR needs_relogin OR NOT is_active) AND (CAST(:ids AS text[]) IS NULL "
                "OR id = ANY(CAST(:ids AS text[]))) ORDER BY platform, username"
            ),
            {"now": now, "ids": account_ids},
        )
        .mappings()
        .all()
    )
    out = []
    for r in rows:
        who = f"@{r['username']} ({r['platform']})"
        if r["frozen_until"] is not None and r["frozen_until"] > now:
            out.append(
                {
                    "account_id": r["id"],
                    "account": who,
                    "kind": "frozen",
                    "until": r["frozen_until"],
                    "reason": r["frozen_reason"] or "block signal",
                    "message": f"{who} is frozen until {r['frozen_until']:%Y-%m-%d %H:%M} UTC after a block "
                    f"signal from the platform ({r['frozen_reason'] or 'block signal'}); "
                    "its actions wait until then",
                    "fix": "wait; or, if you are sure the block is over, `postpulse accounts resume "
                    f"{r['username']}`",
                }
            )
        if r["needs_relogin"]:
            out.append(
                {
                    "account_id": r["id"],
                    "account": who,
                    "kind": "needs_relogin",
                    "until": None,
                    "reason": r["last_error_message"] or "session expired",
                    "message": f"{who} needs a new login ({r['last_error_message'] or 'session expired'}); "
                    "its actions wait",
                    "fix": f"`postpulse accounts login {r['username']}`",
                }
            )
        if not r["is_active"]:
            out.append(
                {
                    "account_id": r["id"],
                    "account": who,
                    "kind": "paused",
                    "until": None,
                    "reason": "paused",
                    "message": f"{who} is paused; its actions wait",
                    "fix": f"`postpulse accounts resume {r['username']}`",
                }
            )
    return out


# -- global pause ---------------------------------------------------------------------------------


def set_global_pause(conn: Connection, paused: bool, *, actor: str = "cli", run_id: str = "manual") -> None:
    conn.execute(
        text(
            "INSERT INTO app_settings (key, value, updated_at) VALUES ('global_pause', CAST(:v AS jsonb), "
            "now()) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
        ),
        {"v": json.dumps(bool(paused))},
    )
    audit.record(
        conn,
        run_id=run_id,
        step_id="global_pause",
        event_type="approval",
        outcome="success",
        details={"global_pause": bool(paused), "by": actor},
    )


def is_globally_paused(conn: Connection) -> bool:
    """Only a stored JSON ``true`` pauses (what ``set_global_pause`` writes)."""
    return bool(
        conn.execute(
            text(
                "SELECT coalesce((SELECT value = 'true'::jsonb FROM app_settings "
                "WHERE key = 'global_pause'), false)"
            )
        ).scalar()
    )


# -- blocklist ------------------------------------------------------------------------------------


def add_blocklist_entry(
    conn: Connection,
    *,
    entry_type: str,
    value: str,
    match_type: str = "exact",
    platform: str | None = None,
    reason: str = "",
    account: str | None = None,
    expires_at: datetime | None = None,
    added_by: str = "user",
    actor: str = "cli",
    run_id: str = "manual",
) -> dict:
    """Validate (RE2 for regexes) and insert one entry; ``account`` limits it to one of our
    accounts (else it applies to all). An identical entry is refused, naming the existing id."""
    from postpulse.policy import BlocklistEntry, BlocklistError, validate_entry

    try:
        entry = validate_entry(
            BlocklistEntry(
                entry_type=entry_type,
                value=value,
                match_type=match_type,
                platform=platform,
                reason=reason or "added by hand",
                added_by=added_by,
                expires_at=expires_at,
            )
        )
    except BlocklistError as exc:
        raise InvalidAction(str(exc)) from None
    acc_id = get_account(conn, account)["id"] if account else None
    dup = conn.execute(
        text(
            "SELECT id FROM blocklist_entries WHERE entry_type = :t AND coalesce(platform, '') "
            "= coalesce(CAST(:p AS text), '') "
            "AND match_type = :m AND lower(value) = lower(:v) AND coalesce(account_id, '') "
            "= coalesce(CAST(:a AS text), '')"
        ),
        {"t": entry.entry_type, "p": entry.platform, "m": entry.match_type, "v": entry.value, "a": acc_id},
    ).scalar()
    if dup:
        raise InvalidAction(
            f"the same blocklist entry exists already ({dup})",
            fix=f"remove it first with `postpulse actions blocklist remove {dup}` to change it",
        )
    row = insert_with_new_id(
        conn,
        "blocklist_entries",
        {
            "entry_type": entry.entry_type,
            "platform": entry.platform,
            "value": entry.value,
            "match_type": entry.match_type,
            "reason": entry.reason,
            "added_by": entry.added_by,
            "account_id": acc_id,
            "expires_at": entry.expires_at,
        },
        returning=(
            "id",
            "entry_type",
            "platform",
            "value",
            "match_type",
            "reason",
            "added_by",
            "account_id",
            "expires_at",
            "created_at",
        ),
    )
    audit.record(
        conn,
        run_id=run_id,
        step_id="blocklist",
        event_type="approval",
        outcome="success",
        platform=entry.platform,
        account_id=acc_id,
        target_type=entry.entry_type,
        details={
            "blocklist_entry_id": row["id"],
            "change": "added",
            "match_type": entry.match_type,
            "by": actor,
        },
    )
    return row


def list_blocklist(conn: Connection, *, limit: int = 1000) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT b.id, b.entry_type, b.platform, b.value, b.match_type, b.reason, b.added_by, "
                "a.username AS account, b.expires_at, b.created_at FROM blocklist_entries b LEFT "
                "JOIN accounts a ON a.id = b.account_id ORDER BY b.created_at DESC, b.id LIMIT :l"
            ),
            {"l": limit},
        ).mappings()
    ]


def remove_blocklist_entry(
    conn: Connection, entry_id: str, *, actor: str = "cli", run_id: str = "manual"
) -> dict:
    row = (
        conn.execute(
            text("DELETE FROM blocklist_entries WHERE id = :i RETURNING id, entry_type, platform, added_by"),
            {"i": entry_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no blocklist entry {entry_id}", fix="see `postpulse actions blocklist list`")
    audit.record(
        conn,
        run_id=run_id,
        step_id="blocklist",
        event_type="approval",
        outcome="success",
        platform=row["platform"],
        target_type=row["entry_type"],
        details={
            "blocklist_entry_id": entry_id,
            "change": "removed",
            "was_added_by": row["added_by"],
            "by": actor,
        },
    )
    return dict(row)


# -- templates -------------------------------------------------------------------------------------


def get_template(conn: Connection, ident: str) -> dict:
    row = (
        conn.execute(
            text(
                "SELECT id, name, template_type, content, is_active FROM message_templates "
                "WHERE id = :i OR name = :i ORDER BY (id = :i) DESC LIMIT 1"
            ),
            {"i": ident},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no message template {ident!r}", fix="create it in message_templates (id tpl-...)")
    return dict(row)


TEMPLATE_TYPES = ("comment", "reply", "dm", "bio", "post", "story", "highlight")


def add_template(
    conn: Connection, *, name: str, template_type: str, content: str, created_by: str | None = None
) -> str:
    """Store a message template (Jinja2 ``{{ variable }}`` syntax, checked now; its variables are
    listed in ``message_templates.variables``). Names are unique."""
    from postpulse.policy.templates import variables as template_variables

    if template_type not in TEMPLATE_TYPES:
        raise InvalidAction(
            f"unknown template type {template_type!r}", fix=f"use one of {', '.join(TEMPLATE_TYPES)}"
        )
    if not name.strip() or not content.strip():
        raise InvalidAction("a template needs a name and a content")
    try:
        names = sorted(template_variables(content, name=name))
    except TemplateError as exc:
        raise InvalidAction(str(exc)) from None
    if conn.execute(text("SELECT 1 FROM message_templates WHERE name = :n"), {"n": name}).first():
        raise InvalidAction(f"a message template named {name!r} exists already", fix="choose another name")
    return insert_with_new_id(
        conn,
        "message_templates",
        {
            "name": name,
            "template_type": template_type,
            "content": content,
            "variables": json.dumps(names),
            "created_by": created_by,
        },
    )["id"]


def list_templates(conn: Connection) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT id, name, template_type, content, variables, is_active, usage_count "
                "FROM message_templates ORDER BY name"
            )
        ).mappings()
    ]


# -- the queue -------------------------------------------------------------------------------------


@dataclass
class AddResult:
    action: dict
    error: str | None = None  # set when the action was recorded as rejected (e.g. template error)


def add_action(
    conn: Connection,
    *,
    account: str,
    action_type: str,
    target_id: str | None = None,
    target_type: str | None = None,
    target_url: str | None = None,
    target_username: str | None = None,
    post_id: str | None = None,
    params: dict[str, Any] | None = None,
    text_value: str | None = None,
    template: str | None = None,
    variables: dict[str, Any] | None = None,
    priority: int = 0,
    scheduled_for: datetime | None = None,
    expires_at: datetime | None = None,
    user_notes: str | None = None,
    vault=None,
    platform: str | None = None,
    actor: str = "cli",
    run_id: str = "manual",
    now: datetime | None = None,
) -> AddResult:
    """Queue one action. Auto-approved when the account's settings say so.

    ``text_value`` or ``template`` (+ ``variables``) give the text of comment/reply/DM/publish.
    A template that cannot be rendered (missing variable) records the action as ``rejected`` with
    ``last_reason_code = 'template_error'`` and the message naming the variable; the result's
    ``error`` carries it. DM text is encrypted (needs ``vault``); other text is public anyway.
    """
    now = now or utcnow()
    if action_type not in ACTION_TYPES:
        raise InvalidAction(
            f"unknown action type {action_type!r}", fix=f"use one of {', '.join(ACTION_TYPES)}"
        )
    acc = get_account(conn, account, platform)
    params = dict(params or {})
    target_type = target_type or DEFAULT_TARGET[action_type]
    if target_type not in TARGET_TYPES:
        raise InvalidAction(
            f"unknown target type {target_type!r}", fix=f"use one of {', '.join(TARGET_TYPES)}"
        )
    if action_type in ("follow", "unfollow", "dm_send") and target_type == "user":
        target_username = (target_username or target_id or "").lstrip("@") or None
        target_id = target_id.lstrip("@") if target_id else target_username
    if action_type == "dm_send" and target_type == "dm_thread":
        if not target_id:
            raise InvalidAction("a DM to a thread needs the thread id (dmt-...)")
        th = conn.execute(
            text("SELECT participant_username FROM dm_threads WHERE id = :t AND account_id = :a"),
            {"t": target_id, "a": acc["id"]},
        ).first()
        if th is None:
            raise NotFound(
                f"unknown DM thread {target_id} for account {acc['id']}",
                fix="sync DMs first (`postpulse accounts sync-dms`) or send to a user (--to USERNAME)",
            )
        target_username = th[0]
    if (
        action_type in ("reply", "delete_comment")
        and not (params.get("post_id") or post_id)
        and not (target_id and STORED_COMMENT_ID.fullmatch(target_id))
    ):
        raise InvalidAction(
            f"{action_type} needs the post the comment is on", fix="pass --post PLATFORM_POST_ID"
        )
    if not target_id and action_type != "publish":
        raise InvalidAction(
            f"{action_type} needs a target", fix="pass --target (post id, comment id or username)"
        )
    db_post_id = None
    if target_type == "comment" and target_id and STORED_COMMENT_ID.fullmatch(target_id):
        comment = resolve_stored_comment(conn, target_id, acc)
        target_id = comment["platform_comment_id"]
        post_id = post_id or comment["post_id"]
    if post_id or (target_type == "post" and target_id):
        post = resolve_post(conn, post_id or target_id, acc)
        if post is not None:
            db_post_id = post["id"]
            if post_id:
                post_id = post["platform_post_id"]
            else:
                target_id = post["platform_post_id"]
                target_url = target_url or post["url"]
    if post_id and not params.get("post_id"):
        params.setdefault("post_id", post_id)

    rendered: str | None = text_value
    template_error: str | None = None
    if template:
        tpl = get_template(conn, template)
        params["template_id"] = tpl["id"]
        try:
            rendered = render(tpl["content"], variables or {}, name=tpl["name"])
        except TemplateError as exc:
            template_error = str(exc)
            rendered = None
        if action_type not in PRIVATE_TEXT_ACTIONS:
            params["variables"] = variables or {}
    if action_type in TEXT_ACTIONS and rendered is None and template_error is None:
        raise InvalidAction(
            f"{action_type} needs a text", fix="pass --text or --template with --var name=value"
        )
    if action_type == "publish" and not target_id:
        target_id = f"new:{text_hash(rendered or '')[:16]}"

    settings = AccountSettings.parse(acc["settings"] or {}, source=f"settings of {acc['id']}")
    auto = settings.auto_approves(action_type) and template_error is None
    status = "rejected" if template_error else ("approved" if auto else "queued")
    th_value = text_hash(rendered) if rendered is not None else None
    if rendered is not None and action_type in PRIVATE_TEXT_ACTIONS:
        if vault is None:
            raise InvalidAction("DM text is encrypted at rest; no vault was given")
        from .dm_hash import dm_hash_key, dm_text_hash

        th_value = dm_text_hash(dm_hash_key(conn, vault), rendered)  # keyed: see dm_hash

    def attempt() -> dict:
        (aid,) = allocate_ids(conn, "action_queue", 1)
        p = dict(params)
        if rendered is not None:
            if action_type in PRIVATE_TEXT_ACTIONS:
                if vault is None:
                    raise InvalidAction("DM text is encrypted at rest; no vault was given")
                from postpulse.crypto import envelope_to_text

                p["text_encrypted"] = envelope_to_text(vault.encrypt(rendered, queued_text_aad(aid)))
            else:
                p["text"] = rendered
        row = (
            conn.execute(
                text(
                    "INSERT INTO action_queue (id, account_id, post_id, action_type, target_type, "
                    "target_id, target_url, target_username, action_params, text_hash, status, priority, "
                    "scheduled_for, expires_at, approved_at, approved_by, last_reason_code, last_error, "
                    "user_notes, system_notes, created_at) VALUES (:id, :acc, :post, :type, :tt, :tid, "
                    ":url, :tu, CAST(:params AS jsonb), :th, :status, :prio, :sched, :exp, :appr_at, "
                    ":appr_by, :reason, :err, :notes, :sys, :now) RETURNING *"
                ),
                {
                    "id": aid,
                    "acc": acc["id"],
                    "post": db_post_id,
                    "type": action_type,
                    "tt": target_type,
                    "tid": target_id,
                    "url": target_url,
                    "tu": target_username,
                    "params": json.dumps(p),
                    "th": th_value,
                    "status": status,
                    "prio": priority,
                    "sched": scheduled_for,
                    "exp": expires_at,
                    "appr_at": now if auto else None,
                    "appr_by": "auto-approve" if auto else None,
                    "reason": "template_error" if template_error else None,
                    "err": template_error,
                    "notes": user_notes,
                    "sys": ("rejected when queued: " + template_error)
                    if template_error
                    else ("auto-approved by the account's settings" if auto else None),
                    "now": now,
                },
            )
            .mappings()
            .one()
        )
        return dict(row)

    row = retry_on_id_collision(conn, "action_queue", attempt)
    if template_error is None:
        refused = refuse_target(conn, row["id"], rendered, now)
        if refused is not None:
            return AddResult(refused, refused["last_error"])
    if template_error:
        audit.record(
            conn,
            run_id=run_id,
            step_id="queue",
            event_type="policy_block",
            outcome="failure",
            platform=acc["platform"],
            account_id=acc["id"],
            action_id=row["id"],
            target_type=target_type,
            target_id=target_id,
            details={"reason_code": "template_error", "error_message": template_error, "by": actor},
        )
    elif auto:
        audit.record(
            conn,
            run_id=run_id,
            step_id="queue",
            event_type="approval",
            outcome="success",
            platform=acc["platform"],
            account_id=acc["id"],
            action_id=row["id"],
            details={"decision": "approve", "by": "auto-approve", "action_type": action_type},
        )
    return AddResult(row, template_error)


#: our own ids: a stored post (``p-``) or comment (``cmt-``), as opposed to a platform's id
STORED_POST_ID = re.compile(r"p-[0-9a-f]{1,8}")
STORED_COMMENT_ID = re.compile(r"cmt-[0-9a-f]{1,8}")


def _same_platform(stored: str, account_platform: str) -> bool:
    # sandbox accounts play any platform's site
    return account_platform == "sandbox" or stored == account_platform


def resolve_post(conn: Connection, ref: str, acc: dict) -> dict | None:
    """A post given by our stored id (``p-...``) or by the platform's id. A stored id must exist
    and be on the account's platform (the executor needs the platform's id, never ours); an
    unknown platform id is fine (the executor reads the page)."""
    row = (
        conn.execute(
            text(
                "SELECT id, platform, platform_post_id, url FROM posts "
                "WHERE id = :i OR (platform = :p AND platform_post_id = :i) ORDER BY (id = :i) DESC LIMIT 1"
            ),
            {"i": ref, "p": acc["platform"]},
        )
        .mappings()
        .first()
    )
    if row is None:
        if STORED_POST_ID.fullmatch(ref):
            raise NotFound(
                f"no stored post {ref}: it cannot be resolved to the platform's post",
                fix="check the id (`postpulse tracking`), or pass the platform's post id",
            )
        return None
    if row["id"] == ref and not _same_platform(row["platform"], acc["platform"]):
        raise InvalidAction(
            f"stored post {ref} is on {row['platform']}, but @{acc['username']} is on {acc['platform']}",
            fix="pick an account on the post's platform",
        )
    return dict(row)


def resolve_stored_comment(conn: Connection, ref: str, acc: dict) -> dict:
    """A stored comment (``cmt-...``) -> its platform comment id and its post's platform id."""
    row = (
        conn.execute(
            text(
                "SELECT c.platform_comment_id, c.platform, p.platform_post_id AS post_id FROM comments c "
                "JOIN posts p ON p.id = c.post_id WHERE c.id = :i"
            ),
            {"i": ref},
        )
        .mappings()
        .first()
    )
    if row is None or not row["platform_comment_id"]:
        raise NotFound(
            f"no stored comment {ref} with a platform comment id: it cannot be resolved",
            fix="pass the platform's comment id with --post PLATFORM_POST_ID",
        )
    if not _same_platform(row["platform"], acc["platform"]):
        raise InvalidAction(
            f"stored comment {ref} is on {row['platform']}, but @{acc['username']} is on {acc['platform']}"
        )
    return dict(row)


#: refusals about the people an action touches, decided as soon as it is queued
REFUSED_WHEN_QUEUED = frozenset({"opted_out", "blocklisted_user", "not_allowlisted"})


def refuse_target(conn: Connection, action_id: str, text_value: str | None, now: datetime) -> dict | None:
    """Opt-outs, user blocklist entries and the allowlist on the people a newly queued action
    touches (the named user, the authors from the store): a refused action is recorded as
    ``rejected`` with the reason code and audited, and its row returned; None otherwise (the
    executor checks everything again before acting; content entries are shown as the policy's
    preview until then)."""
    from postpulse.policy import InMemoryIdempotency, InMemoryUsageCounter, PolicyEngine

    from .policy_store import blocklist_cache
    from .targets import SELECT_ROWS, policy_inputs

    r = dict(conn.execute(text(SELECT_ROWS + "WHERE q.id = :id"), {"id": action_id}).mappings().one())
    try:
        settings = AccountSettings.parse(r["settings"] or {})
    except SettingsError:
        return None  # the claim defers it as invalid_settings, naming the key
    request, account = policy_inputs(r, text_value, settings)
    blocklist = blocklist_cache(conn.engine).get(conn, r["account_id"])
    engine = PolicyEngine(blocklist, usage=InMemoryUsageCounter(), idempotency=InMemoryIdempotency())
    d = engine.check_target(request, account, now)
    if d is None or d.reason_code not in REFUSED_WHEN_QUEUED:
        return None  # content entries (post, keyword, domain) are decided when it runs
    conn.execute(
        text(
            "UPDATE action_queue SET status = 'rejected', last_reason_code = :c, "
            "last_error = :m, completed_at = :now, system_notes = CAST(:note AS text) WHERE id = :i"
        ),
        {
            "c": str(d.reason_code),
            "m": d.message,
            "now": now,
            "i": action_id,
            "note": f"rejected when queued: {d.reason_code}",
        },
    )
    audit.record(
        conn,
        run_id="queue",
        step_id="queue",
        event_type="policy_block",
        outcome="failure",
        platform=r["platform"],
        account_id=r["account_id"],
        action_id=action_id,
        target_type=r["target_type"],
        target_id=r["target_id"],
        details={
            "reason_code": str(d.reason_code),
            "outcome": "reject",
            "message": d.message,
            "when": "queue",
        },
    )
    return get_action(conn, action_id)


_LIST_COLS = (
    "q.id, q.account_id, a.username, a.platform, q.action_type, q.target_type, q.target_id, "
    "q.target_username, "
    "q.status, q.priority, q.scheduled_for, q.expires_at, q.attempts, q.last_reason_code, q.last_error, "
    "q.user_notes, q.system_notes, q.created_at, q.updated_at, q.approved_by, q.completed_at"
)


def list_actions(
    conn: Connection, *, status: str | None = None, account_id: str | None = None, limit: int = 100
) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(
                f"SELECT {_LIST_COLS} FROM action_queue q JOIN accounts a ON a.id = q.account_id "
                "WHERE (CAST(:s AS text) IS NULL OR q.status = :s) AND (CAST(:a AS text) IS NULL "
                "OR q.account_id = :a) ORDER BY q.priority DESC, q.created_at DESC LIMIT :l"
            ),
            {"s": status, "a": account_id, "l": limit},
        ).mappings()
    ]


def get_action(conn: Connection, action_id: str) -> dict:
    row = (
        conn.execute(
            text(
                f"SELECT {_LIST_COLS}, q.action_params, q.text_hash, q.post_id, q.approved_at "
                "FROM action_queue q JOIN accounts a ON a.id = q.account_id WHERE q.id = :i"
            ),
            {"i": action_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no action {action_id}", fix="see `postpulse actions list`")
    out = dict(row)
    params = dict(out.get("action_params") or {})
    if "text_encrypted" in params:
        params["text_encrypted"] = "(encrypted)"
    out["action_params"] = params
    return out


def action_history(conn: Connection, action_id: str) -> dict[str, list[dict]]:
    def rows(sql: str) -> list[dict]:
        return [dict(r) for r in conn.execute(text(sql), {"i": action_id}).mappings()]

    return {
        "attempts": rows(
            "SELECT id, run_id, status, error_code, error, result, attempted_at, completed_at, "
            "duration_ms, verification_id, screenshot_path, superseded_at FROM action_attempts "
            "WHERE action_id = :i ORDER BY attempted_at"
        ),
        "verifications": rows(
            "SELECT v.id, v.action_attempt_id, v.verified, v.confidence, v.method, v.details, "
            "v.verified_at FROM verification_results v JOIN action_attempts t "
            "ON t.id = v.action_attempt_id WHERE t.action_id = :i ORDER BY v.verified_at"
        ),
        "audit": rows(
            'SELECT id, run_id, step_id, event_type, outcome, details, "timestamp" FROM audit_entries '
            'WHERE action_id = :i ORDER BY "timestamp", id'
        ),
    }


_TRANSITIONS = {
    "approve": ({"queued"}, "approved"),
    "reject": ({"queued", "approved"}, "rejected"),
    "cancel": ({"queued", "approved"}, "cancelled"),
}


def decide(
    conn: Connection,
    action_ids: list[str],
    decision: str,
    *,
    actor: str = "cli",
    note: str | None = None,
    run_id: str = "manual",
    now: datetime | None = None,
) -> dict[str, str]:
    """Approve, reject or cancel actions. Returns ``{id: outcome}``; an action in another state is
    left alone and reported (e.g. ``"skipped: is completed"``)."""
    if decision not in _TRANSITIONS:
        raise InvalidAction(f"unknown decision {decision!r}", fix="use approve, reject or cancel")
    now = now or utcnow()
    allowed_from, to = _TRANSITIONS[decision]
    out: dict[str, str] = {}
    for aid in action_ids:
        row = (
            conn.execute(
                text(
                    "SELECT q.status, q.account_id, q.action_type, q.target_type, q.target_id, a.platform "
                    "FROM action_queue q JOIN accounts a ON a.id = q.account_id "
                    "WHERE q.id = :i FOR UPDATE OF q"
                ),
                {"i": aid},
            )
            .mappings()
            .first()
        )
        if row is None:
            out[aid] = "not found"
            continue
        if row["status"] not in allowed_from:
            out[aid] = f"skipped: is {row['status']}"
            continue
        conn.execute(
            text(
                "UPDATE action_queue SET status = :to, approved_at = CASE WHEN :to = 'approved' THEN :now "
                "ELSE approved_at END, approved_by = CASE WHEN :to = 'approved' THEN :actor "
                "ELSE approved_by END, last_reason_code = CASE WHEN :to = 'approved' THEN last_reason_code "
                "ELSE :to END, system_notes = concat_ws(E'\\n', system_notes, CAST(:sys AS text)), "
                "user_notes = CASE WHEN CAST(:note AS text) IS NULL THEN user_notes ELSE concat_ws(E'\\n', "
                "user_notes, CAST(:note AS text)) END, completed_at = CASE WHEN :to IN ('rejected', "
                "'cancelled') THEN :now ELSE completed_at END WHERE id = :i"
            ),
            {
                "to": to,
                "now": now,
                "actor": actor,
                "note": note,
                "i": aid,
                "sys": f"{now:%Y-%m-%d %H:%M} UTC: {to} by {actor}",
            },
        )
        audit.record(
            conn,
            run_id=run_id,
            step_id=decision,
            event_type="approval",
            outcome="success" if decision == "approve" else "skipped",
            platform=row["platform"],
            account_id=row["account_id"],
            action_id=aid,
            target_type=row["target_type"],
            target_id=row["target_id"],
            details={"decision": decision, "by": actor, "note": note, "action_type": row["action_type"]},
        )
        out[aid] = to
    return out


def retry(
    conn: Connection, action_ids: list[str], *, actor: str = "cli", now: datetime | None = None
) -> dict[str, str]:
    """Failed actions go back to ``approved`` with fresh attempts, deferred ones become due now.
    Rejected and cancelled ones stay (queue them again). Returns ``{id: outcome}``."""
    now = now or utcnow()
    out: dict[str, str] = {}
    for aid in action_ids:
        row = conn.execute(
            text("SELECT status, approved_at FROM action_queue WHERE id = :i FOR UPDATE"), {"i": aid}
        ).first()
        if row is None:
            out[aid] = "not found"
        elif row[0] in ("failed", "approved"):
            conn.execute(
                text(
                    "UPDATE action_queue SET status = 'approved', scheduled_for = :now, attempts = 0, "
                    "completed_at = NULL, claimed_by = NULL, approved_at = coalesce(approved_at, :now), "
                    "system_notes = left(concat_ws(E'\\n', CAST(:note AS text), system_notes), 4000) "
                    "WHERE id = :i"
                ),
                {"now": now, "i": aid, "note": f"{now:%Y-%m-%d %H:%M} UTC retried by {actor}"},
            )
            out[aid] = "due now"
        else:
            out[aid] = f"skipped: is {row[0]} (queue it again instead)"
    return out


def reschedule(
    conn: Connection,
    action_ids: list[str],
    at: datetime | None,
    *,
    actor: str = "cli",
    now: datetime | None = None,
) -> dict[str, str]:
    """Queued or approved actions run not before ``at`` (None: now). Returns ``{id: outcome}``."""
    now = now or utcnow()
    when = at or now
    out: dict[str, str] = {}
    for aid in action_ids:
        status = conn.execute(
            text("SELECT status FROM action_queue WHERE id = :i FOR UPDATE"), {"i": aid}
        ).scalar()
        if status is None:
            out[aid] = "not found"
        elif status in ("queued", "approved"):
            conn.execute(
                text(
                    "UPDATE action_queue SET scheduled_for = :w, system_notes = left(concat_ws(E'\\n', "
                    "CAST(:note AS text), system_notes), 4000) WHERE id = :i"
                ),
                {
                    "w": when,
                    "i": aid,
                    "note": f"{now:%Y-%m-%d %H:%M} UTC rescheduled to {when:%Y-%m-%d %H:%M} UTC by {actor}",
                },
            )
            out[aid] = f"not before {when:%Y-%m-%d %H:%M} UTC"
        else:
            out[aid] = f"skipped: is {status}"
    return out


def waiting_reason(action: dict, account: dict, now: datetime | None = None) -> str:
    """Why an action waits and until when, in words (``actions show``), times in the account's
    time zone and UTC."""
    from zoneinfo import ZoneInfo

    now = now or utcnow()
    status = action["status"]
    if status == "queued":
        return "waits for approval (`postpulse actions approve " + action["id"] + "`)"
    if status == "in_progress":
        return "running now"
    if status != "approved":
        why = f": {action['last_reason_code']}" if action.get("last_reason_code") else ""
        return f"does not wait: it is {status}{why}"
    when = action.get("scheduled_for")
    if when is None or when <= now:
        return "due now: the next executor run picks it up"
    try:
        local = when.astimezone(ZoneInfo(account.get("timezone") or "UTC"))
        local_s = f"{local:%Y-%m-%d %H:%M} {account.get('timezone') or 'UTC'} ({when:%H:%M} UTC)"
    except Exception:
        local_s = f"{when:%Y-%m-%d %H:%M} UTC"
    reason = action.get("last_reason_code")
    if not reason:
        return f"scheduled: not before {local_s}"
    msg = action.get("last_error") or ""
    return f"waits until {local_s}: {reason}" + (f" — {msg}" if msg else "")


def decide_many(
    conn: Connection,
    action_ids: list[str],
    decision: str,
    *,
    actor: str,
    note: str | None = None,
    run_id: str = "manual",
    now: datetime | None = None,
) -> dict[str, str]:
    """``decide`` for many actions at once (the console's bulk approval): one UPDATE for all
    rows in a state the decision applies to, and their audit entries in one INSERT (the same
    entries ``decide`` writes). Returns ``{id: outcome}`` for the actions that changed."""
    if decision not in _TRANSITIONS:
        raise InvalidAction(f"unknown decision {decision!r}", fix="use approve, reject or cancel")
    if not action_ids:
        return {}
    now = now or utcnow()
    allowed_from, to = _TRANSITIONS[decision]
    changed = (
        conn.execute(
            text(
                "UPDATE action_queue q SET status = :to, "
                "approved_at = CASE WHEN :to = 'approved' THEN :now ELSE q.approved_at END, "
                "approved_by = CASE WHEN :to = 'approved' THEN :actor ELSE q.approved_by END, "
                "last_reason_code = CASE WHEN :to = 'approved' THEN q.last_reason_code ELSE :to END, "
                "system_notes = concat_ws(E'\\n', q.system_notes, CAST(:sys AS text)), "
                "user_notes = CASE WHEN CAST(:note AS text) IS NULL THEN q.user_notes "
                "ELSE concat_ws(E'\\n', q.user_notes, CAST(:note AS text)) END, "
                "completed_at = CASE WHEN :to IN ('rejected', 'cancelled') THEN :now ELSE q.completed_at END "
                "FROM accounts a WHERE a.id = q.account_id AND q.id = ANY(CAST(:ids AS text[])) "
                "AND q.status = ANY(CAST(:from_ AS text[])) "
                "RETURNING q.id, q.account_id, q.action_type, q.target_type, q.target_id, a.platform"
            ),
            {
                "to": to,
                "now": now,
                "actor": actor,
                "note": note,
                "ids": list(action_ids),
                "from_": sorted(allowed_from),
                "sys": f"{now:%Y-%m-%d %H:%M} UTC: {to} by {actor}",
            },
        )
        .mappings()
        .all()
    )
    if not changed:
        return {}
    details = json.dumps(audit.scrub({"decision": decision, "by": actor, "note": note}))

    def insert_audit() -> None:
        ids = allocate_ids(conn, "audit_entries", len(changed))
        conn.execute(
            text(
                "INSERT INTO audit_entries (id, run_id, step_id, event_type, platform, account_id, "
                'action_id, target_type, target_id, outcome, details, "timestamp") '
                "SELECT u.id, :run, :step, 'approval', u.platform, u.account_id, u.action_id, "
                "u.target_type, u.target_id, :outcome, "
                "CAST(:details AS jsonb) || jsonb_build_object('action_type', u.action_type), :now "
                "FROM unnest(CAST(:ids AS text[]), CAST(:platforms AS text[]), CAST(:accounts AS text[]), "
                "CAST(:actions AS text[]), CAST(:ttypes AS text[]), CAST(:tids AS text[]), "
                "CAST(:atypes AS text[])) "
                "AS u(id, platform, account_id, action_id, target_type, target_id, action_type)"
            ),
            {
                "run": run_id,
                "step": decision,
                "outcome": "success" if decision == "approve" else "skipped",
                "details": details,
                "now": now,
                "ids": ids,
                "platforms": [r["platform"] for r in changed],
                "accounts": [r["account_id"] for r in changed],
                "actions": [r["id"] for r in changed],
                "ttypes": [r["target_type"] for r in changed],
                "tids": [r["target_id"] for r in changed],
                "atypes": [r["action_type"] for r in changed],
            },
        )

    retry_on_id_collision(conn, "audit_entries", insert_audit)
    return {r["id"]: to for r in changed}


def auto_approve_queued(
    conn: Connection, *, now: datetime | None = None, run_id: str = "auto-approve"
) -> list[str]:
    """Approve queued actions whose account settings auto-approve their type (settings may have
    changed after they were queued)."""
    now = now or utcnow()
    ids = []
    rows = (
        conn.execute(
            text(
                "SELECT q.id, q.action_type, a.settings, a.id AS account_id FROM action_queue q "
                "JOIN accounts a ON a.id = q.account_id WHERE q.status = 'queued'"
            )
        )
        .mappings()
        .all()
    )
    cache: dict[str, AccountSettings | None] = {}
    for r in rows:
        if r["account_id"] not in cache:
            try:
                cache[r["account_id"]] = AccountSettings.parse(r["settings"] or {})
            except SettingsError:
                cache[r["account_id"]] = None
        s = cache[r["account_id"]]
        if s is not None and s.auto_approves(r["action_type"]):
            ids.append(r["id"])
    if ids:
        decide(conn, ids, "approve", actor="auto-approve", run_id=run_id, now=now)
    return ids


_DUE = (
    "q.status = 'approved' AND (q.scheduled_for IS NULL OR q.scheduled_for <= :now) "
    "AND (q.expires_at IS NULL OR q.expires_at > :now - interval '1 day')"
)


def due_actions(conn: Connection, now: datetime, limit: int = 1000) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(
                f"SELECT q.id, q.updated_at FROM action_queue q WHERE {_DUE} "
                "ORDER BY q.priority DESC, q.scheduled_for NULLS FIRST, q.created_at LIMIT :l"
            ),
            {"now": now, "l": limit},
        ).mappings()
    ]


def queue_counts(conn: Connection) -> dict[str, int]:
    return {
        r[0]: int(r[1])
        for r in conn.execute(text("SELECT status, count(*) FROM action_queue GROUP BY status"))
    }
