"""Audit entries (``audit_entries``): every step of every run, never a secret.

Callers pass ``details`` built from ids, codes, counts and messages written by postpulse; DM
text, passwords, session state and keys never go in. ``scrub`` removes keys that look like
secrets as a second line of defence.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.ids import MAX_ROUNDS, PREFIXES, IdSpaceExhausted, new_id

_SECRET_KEYS = (
    "password",
    "secret",
    "token",
    "cookie",
    "session_state",
    "storage_state",
    "key",
    "text",
    "content",
    "message_text",
    "plaintext",
)
_ALLOWED = {"key_id", "kid", "primary_kid", "text_hash", "reason_code", "keys", "key_ids"}

EVENTS = (
    "session_start",
    "session_end",
    "navigate",
    "extract",
    "action_attempt",
    "action_complete",
    "verification",
    "error",
    "rate_limit_hit",
    "policy_block",
    "approval",
    "login",
    "block_signal",
    "retention",
    "key_rotation",
    "opt_out",
)

_INSERT = text(
    "INSERT INTO audit_entries (id, run_id, step_id, event_type, platform, account_id, action_id, "
    'target_type, target_id, outcome, details, "timestamp", duration_ms) VALUES (:id, :run_id, :step_id, '
    ":event_type, :platform, :account_id, :action_id, :target_type, :target_id, :outcome, "
    "CAST(:details AS jsonb), coalesce(:ts, now()), :duration_ms) ON CONFLICT (id) DO NOTHING RETURNING id"
)


def scrub(details: Any) -> Any:
    if isinstance(details, dict):
        out = {}
        for k, v in details.items():
            lk = str(k).lower()
            if lk not in _ALLOWED and any(s == lk or lk.endswith("_" + s) for s in _SECRET_KEYS):
                out[k] = "[redacted]"
            else:
                out[k] = scrub(v)
        return out
    if isinstance(details, (list, tuple)):
        return [scrub(v) for v in details]
    if isinstance(details, datetime):
        return details.isoformat()
    return details


def record(
    conn: Connection,
    *,
    run_id: str,
    step_id: str,
    event_type: str,
    outcome: str,
    details: dict[str, Any] | None = None,
    platform: str | None = None,
    account_id: str | None = None,
    action_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    at: datetime | None = None,
    duration_ms: int | None = None,
) -> str:
    """Insert one audit entry; returns its id."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown audit event {event_type!r}")
    payload = json.dumps(scrub(details or {}), default=str)
    values = {
        "run_id": run_id,
        "step_id": step_id,
        "event_type": event_type,
        "platform": platform,
        "account_id": account_id,
        "action_id": action_id,
        "target_type": target_type,
        "target_id": target_id,
        "outcome": outcome,
        "details": payload,
        "ts": at,
        "duration_ms": duration_ms,
    }

    return insert_fresh(conn, "audit_entries", _INSERT, values)


def insert_fresh(conn: Connection, table: str, stmt, values: dict) -> str:
    """INSERT under a fresh random id, collision-safe in one round trip: the statement ends in
    ``ON CONFLICT (id) DO NOTHING RETURNING id``; a collision returns no row and is retried with a
    new id (the hot path of the executor: no extra SELECT, no savepoint)."""
    prefix = PREFIXES[table]
    for _ in range(MAX_ROUNDS):
        rid = new_id(prefix)
        if conn.execute(stmt, {"id": rid, **values}).first() is not None:
            return rid
    raise IdSpaceExhausted(f"gave up after {MAX_ROUNDS} id collisions on {table}")
