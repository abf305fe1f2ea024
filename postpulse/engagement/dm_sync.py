"""DM threads and messages from the platform into ``dm_threads`` / ``dm_messages``.

Message text is encrypted before it reaches the database (AES-256-GCM, associated data
``dm_messages:<id>:content``, key id in ``key_id``); the thread's last-message preview likewise
(``dm_threads:<id>:last_message_preview``). Re-syncing is idempotent (``UNIQUE (platform,
platform_message_id)``).

An inbound message that asks us to stop (``postpulse.policy.is_opt_out``: "stop",
"unsubscribe", "leave me alone", ...) adds an ``opt_out`` blocklist entry for its sender on that
platform (audit ``opt_out``, without the text): no further DMs, comments, likes or follows go to
that user.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.crypto import Vault
from postpulse.ids import allocate_ids, retry_on_id_collision
from postpulse.policy import is_opt_out, opt_out_entry_for
from postpulse.policy.blocklist import validate_entry

from . import audit
from .repository import utcnow
from .secrets import dm_content_aad, dm_preview_aad


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def upsert_thread(
    conn: Connection,
    vault: Vault,
    *,
    account_id: str,
    platform: str,
    platform_thread_id: str,
    participant: str,
    last_text: str | None,
    last_at: datetime | None,
    now: datetime,
) -> str:
    row = conn.execute(
        text("SELECT id FROM dm_threads WHERE platform = :p AND platform_thread_id = :t"),
        {"p": platform, "t": platform_thread_id},
    ).scalar()
    if row is None:

        def attempt() -> str:
            (tid,) = allocate_ids(conn, "dm_threads", 1)
            conn.execute(
                text(
                    "INSERT INTO dm_threads (id, platform, platform_thread_id, account_id, "
                    "participant_username, "
                    "discovered_at, last_synced_at) VALUES (:id, :p, :t, :a, :u, :now, :now)"
                ),
                {
                    "id": tid,
                    "p": platform,
                    "t": platform_thread_id,
                    "a": account_id,
                    "u": participant,
                    "now": now,
                },
            )
            return tid

        row = retry_on_id_collision(conn, "dm_threads", attempt)
    if last_text is not None:
        conn.execute(
            text(
                "UPDATE dm_threads SET last_message_preview_encrypted = :b, last_message_at = :at, "
                "last_synced_at = :now WHERE id = :id"
            ),
            {"b": vault.encrypt(last_text[:200], dm_preview_aad(row)), "at": last_at, "now": now, "id": row},
        )
    else:
        conn.execute(
            text("UPDATE dm_threads SET last_synced_at = :now WHERE id = :id"), {"now": now, "id": row}
        )
    return row


def insert_message(
    conn: Connection,
    vault: Vault,
    *,
    thread_id: str,
    platform: str,
    platform_message_id: str,
    is_from_us: bool,
    sender: str,
    content: str,
    sent_at: datetime | None,
    now: datetime,
    action_attempt_id: str | None = None,
) -> str | None:
    """Insert one message (encrypted); None if it is already stored."""
    exists = conn.execute(
        text("SELECT 1 FROM dm_messages WHERE platform = :p AND platform_message_id = :m"),
        {"p": platform, "m": platform_message_id},
    ).first()
    if exists:
        return None

    def attempt() -> str:
        (mid,) = allocate_ids(conn, "dm_messages", 1)
        blob = vault.encrypt(content, dm_content_aad(mid))
        conn.execute(
            text(
                "INSERT INTO dm_messages (id, platform, platform_message_id, thread_id, is_from_us, "
                "sender_username, "
                "content_encrypted, key_id, sent_at, discovered_at, action_attempt_id) VALUES (:id, :p, :m, "
                ":t, :us, "
                ":s, :b, :k, :at, :now, :att)"
            ),
            {
                "id": mid,
                "p": platform,
                "m": platform_message_id,
                "t": thread_id,
                "us": is_from_us,
                "s": sender,
                "b": blob,
                "k": Vault.key_id(blob),
                "at": sent_at,
                "now": now,
                "att": action_attempt_id,
            },
        )
        return mid

    return retry_on_id_collision(conn, "dm_messages", attempt)


def add_opt_out(
    conn: Connection,
    *,
    platform: str,
    username: str,
    account_id: str,
    run_id: str,
    thread_id: str | None,
    message_id: str | None,
    now: datetime,
) -> str | None:
    """The opt-out blocklist entry for ``username`` (None if it exists already)."""
    entry = validate_entry(opt_out_entry_for(platform, username, now=now))
    existing = conn.execute(
        text(
            "SELECT id FROM blocklist_entries WHERE entry_type = 'user' AND coalesce(platform, '') = :p "
            "AND match_type = 'exact' AND lower(value) = lower(:v) AND account_id IS NULL"
        ),
        {"p": entry.platform or "", "v": entry.value},
    ).scalar()
    if existing:
        if (
            conn.execute(
                text("SELECT added_by FROM blocklist_entries WHERE id = :i"), {"i": existing}
            ).scalar()
            != "opt_out"
        ):
            conn.execute(
                text(
                    "UPDATE blocklist_entries SET added_by = 'opt_out', reason = :r, expires_at = NULL "
                    "WHERE id = :i"
                ),
                {"r": entry.reason, "i": existing},
            )
        else:
            return None

    def attempt() -> str:
        (bid,) = allocate_ids(conn, "blocklist_entries", 1)
        conn.execute(
            text(
                "INSERT INTO blocklist_entries (id, entry_type, platform, value, match_type, reason, "
                "added_by, created_at) "
                "VALUES (:id, 'user', :p, :v, 'exact', :r, 'opt_out', :now)"
            ),
            {"id": bid, "p": entry.platform, "v": entry.value, "r": entry.reason, "now": now},
        )
        return bid

    bid = existing or retry_on_id_collision(conn, "blocklist_entries", attempt)
    audit.record(
        conn,
        run_id=run_id,
        step_id="dm_sync",
        event_type="opt_out",
        outcome="success",
        platform=platform,
        account_id=account_id,
        target_type="user",
        target_id=entry.value,
        details={
            "blocklist_entry_id": bid,
            "dm_thread_id": thread_id,
            "dm_message_id": message_id,
            "reason_code": "opted_out",
        },
    )
    return bid


def store_outbound_dm(
    conn: Connection, vault: Vault, task: Any, result: dict, content: str | None, now: datetime
) -> None:
    """Keep a DM we just sent (encrypted), linked to its attempt."""
    if not content or not result.get("platform_thread_id"):
        return
    tid = upsert_thread(
        conn,
        vault,
        account_id=task.account_id,
        platform=task.platform,
        platform_thread_id=result["platform_thread_id"],
        participant=(task.target_username or task.target_id).lower(),
        last_text=content,
        last_at=now,
        now=now,
    )
    if result.get("platform_message_id"):
        insert_message(
            conn,
            vault,
            thread_id=tid,
            platform=task.platform,
            platform_message_id=result["platform_message_id"],
            is_from_us=True,
            sender=task.username.lower(),
            content=content,
            sent_at=now,
            now=now,
            action_attempt_id=task.attempt_id,
        )


def sync_account(
    engine: Engine,
    vault: Vault,
    account_id: str,
    *,
    browser: Any,
    base_url: str,
    run_id: str = "dm-sync",
    now: datetime | None = None,
) -> dict[str, int]:
    """Read every thread of the account from the platform; store new messages; honour opt-outs."""
    from .drivers.base import SessionExpired
    from .drivers.registry import open_driver, resolve
    from .sessions import load_session, mark_needs_relogin

    now = now or utcnow()
    t0 = time.perf_counter()
    with engine.connect() as conn:
        acc = (
            conn.execute(
                text("SELECT id, platform, username, metadata FROM accounts WHERE id = :id"),
                {"id": account_id},
            )
            .mappings()
            .one()
        )
        state = load_session(conn, vault, account_id)
    counts = {"threads": 0, "new_messages": 0, "opt_outs": 0}
    if state is None:
        with engine.begin() as conn:
            mark_needs_relogin(
                conn, account_id, run_id=run_id, reason="no stored session", platform=acc["platform"]
            )
        return counts
    driver_name, site = resolve(acc["platform"], acc["metadata"])
    driver = open_driver(
        driver_name, browser, base_url=base_url, site=site, username=acc["username"], storage_state=state
    )
    me = acc["username"].lower()
    try:
        try:
            threads = driver.list_threads()
            contents = [(th, driver.read_thread(th["thread_id"])) for th in threads]
        except SessionExpired as exc:
            with engine.begin() as conn:
                mark_needs_relogin(
                    conn, account_id, run_id=run_id, reason=exc.message, platform=acc["platform"]
                )
            return counts
    finally:
        driver.close()
    with engine.begin() as conn:
        for th, msgs in contents:
            counts["threads"] += 1
            last = msgs[-1] if msgs else None
            tid = upsert_thread(
                conn,
                vault,
                account_id=account_id,
                platform=acc["platform"],
                platform_thread_id=th["thread_id"],
                participant=th["with"],
                last_text=last["text"] if last else None,
                last_at=_parse_time(last["sent_at"]) if last else None,
                now=now,
            )
            opted = False
            for m in msgs:
                mid = insert_message(
                    conn,
                    vault,
                    thread_id=tid,
                    platform=acc["platform"],
                    platform_message_id=m["message_id"],
                    is_from_us=m["sender"] == me,
                    sender=m["sender"],
                    content=m["text"],
                    sent_at=_parse_time(m["sent_at"]),
                    now=now,
                )
                if mid is None:
                    continue
                counts["new_messages"] += 1
                if m["sender"] != me and not opted and is_opt_out(m["text"]):
                    if add_opt_out(
                        conn,
                        platform=acc["platform"],
                        username=m["sender"],
                        account_id=account_id,
                        run_id=run_id,
                        thread_id=tid,
                        message_id=mid,
                        now=now,
                    ):
                        counts["opt_outs"] += 1
                    opted = True
        audit.record(
            conn,
            run_id=run_id,
            step_id="dm_sync",
            event_type="extract",
            outcome="success",
            platform=acc["platform"],
            account_id=account_id,
            at=now,
            duration_ms=int((time.perf_counter() - t0) * 1000),
            details=dict(counts),
        )
    return counts


def read_messages(conn: Connection, vault: Vault, thread_id: str) -> list[dict]:
    """Decrypted messages of a thread (for the CLI / the user); redacted ones show None."""
    out = []
    for r in conn.execute(
        text(
            "SELECT id, is_from_us, sender_username, content_encrypted, sent_at, content_redacted_at "
            "FROM dm_messages WHERE thread_id = :t ORDER BY sent_at NULLS FIRST, discovered_at"
        ),
        {"t": thread_id},
    ).mappings():
        content = (
            vault.decrypt_text(bytes(r["content_encrypted"]), dm_content_aad(r["id"]))
            if r["content_encrypted"] is not None
            else None
        )
        out.append(
            {
                "id": r["id"],
                "from_us": r["is_from_us"],
                "sender": r["sender_username"],
                "text": content,
                "sent_at": r["sent_at"],
                "redacted": r["content_redacted_at"] is not None,
            }
        )
    return out
