"""Key status and rotation: every envelope in the store re-encrypted under the primary key.

``rotate(engine, vault)`` adds a new primary key to the key file (old keys kept for decrypting)
and then ``reencrypt``s, in batches of ``batch_size`` rows per transaction, every envelope not
under the primary key: DM content, DM previews, sessions, access and refresh tokens, queued DM
texts. It is restartable: an interrupted run leaves every row readable (each row is re-encrypted
in place, atomically) and the next run continues. With ``POSTPULSE_SECRET_KEY`` the key itself
cannot be rotated by postpulse: put the new key first in the variable, restart, then run
``postpulse keys reencrypt``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.crypto import Vault, envelope_from_text, envelope_to_text

from . import audit
from .secrets import dm_content_aad, dm_preview_aad, queued_text_aad, session_aad, token_aad


@dataclass(frozen=True)
class Column:
    name: str
    table: str
    column: str
    aad: Callable[[str], bytes]
    key_id_column: str | None = None


COLUMNS = (
    Column("dm_messages.content", "dm_messages", "content_encrypted", dm_content_aad, "key_id"),
    Column("dm_threads.last_message_preview", "dm_threads", "last_message_preview_encrypted", dm_preview_aad),
    Column("accounts.session", "accounts", "session_encrypted", session_aad),
    Column(
        "accounts.access_token", "accounts", "access_token_encrypted", lambda i: token_aad(i, "access_token")
    ),
    Column(
        "accounts.refresh_token",
        "accounts",
        "refresh_token_encrypted",
        lambda i: token_aad(i, "refresh_token"),
    ),
)


def status(engine: Engine, vault: Vault | None) -> dict:
    """Key ids in use per column (reads only the envelope headers)."""
    usage: dict[str, Counter] = {}
    with engine.connect() as conn:
        for c in COLUMNS:
            cnt: Counter = Counter()
            for (blob,) in conn.execute(
                text(f"SELECT {c.column} FROM {c.table} WHERE {c.column} IS NOT NULL")
            ):
                try:
                    cnt[Vault.key_id(bytes(blob))] += 1
                except Exception:
                    cnt["<malformed>"] += 1
            usage[c.name] = cnt
        cnt = Counter()
        for (t,) in conn.execute(
            text(
                "SELECT action_params->>'text_encrypted' FROM action_queue "
                "WHERE action_params ? 'text_encrypted'"
            )
        ):
            try:
                cnt[Vault.key_id(envelope_from_text(t))] += 1
            except Exception:
                cnt["<malformed>"] += 1
        usage["action_queue.text"] = cnt
    out = {"columns": {k: dict(v) for k, v in usage.items()}}
    if vault is not None:
        out.update(
            {
                "primary": vault.keyring.primary_kid,
                "keys": list(vault.keyring.kids),
                "source": vault.keyring.source,
            }
        )
        out["needing_rotation"] = sum(
            n for v in usage.values() for k, n in v.items() if k != vault.keyring.primary_kid
        )
    return out


def _rewrap_in_batches(
    engine: Engine, select_sql: str, batch_size: int, rewrap: Callable[[Connection, str, object], bool]
) -> int:
    """Walk ``select_sql``'s (id, envelope) rows in id order, a locked batch per transaction;
    ``rewrap(conn, id, value)`` re-encrypts one row and says whether it changed it."""
    done, last = 0, ""
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                text(f"{select_sql} AND id > :last ORDER BY id LIMIT :n FOR UPDATE"),
                {"last": last, "n": batch_size},
            ).all()
            if not rows:
                return done
            for rid, value in rows:
                last = rid
                done += rewrap(conn, rid, value)


def reencrypt(engine: Engine, vault: Vault, *, batch_size: int = 500, run_id: str = "keys") -> dict[str, int]:
    """Re-encrypt every envelope not under the primary key; returns counts per column."""
    t0 = time.perf_counter()
    primary = vault.keyring.primary_kid
    counts: dict[str, int] = {}
    for c in COLUMNS:

        def rewrap_column(conn: Connection, rid: str, blob: object, c=c) -> bool:
            blob = bytes(blob)
            if not vault.needs_rotation(blob):
                return False
            new = vault.reencrypt(blob, c.aad(rid))
            if c.key_id_column:
                conn.execute(
                    text(f"UPDATE {c.table} SET {c.column} = :b, {c.key_id_column} = :k WHERE id = :id"),
                    {"b": new, "k": primary, "id": rid},
                )
            else:
                conn.execute(
                    text(f"UPDATE {c.table} SET {c.column} = :b WHERE id = :id"), {"b": new, "id": rid}
                )
            return True

        counts[c.name] = _rewrap_in_batches(
            engine,
            f"SELECT id, {c.column} FROM {c.table} WHERE {c.column} IS NOT NULL",
            batch_size,
            rewrap_column,
        )

    def rewrap_queued_text(conn: Connection, rid: str, t: object) -> bool:
        blob = envelope_from_text(t)
        if not vault.needs_rotation(blob):
            return False
        new = envelope_to_text(vault.reencrypt(blob, queued_text_aad(rid)))
        conn.execute(
            text(
                "UPDATE action_queue SET action_params = jsonb_set(action_params, '{text_encrypted}', "
                "to_jsonb(CAST(:t AS text))) WHERE id = :id"
            ),
            {"t": new, "id": rid},
        )
        return True

    counts["action_queue.text"] = _rewrap_in_batches(
        engine,
        "SELECT id, action_params->>'text_encrypted' FROM action_queue "
        "WHERE action_params ? 'text_encrypted'",
        batch_size,
        rewrap_queued_text,
    )
    with engine.begin() as conn:
        audit.record(
            conn,
            run_id=run_id,
            step_id="reencrypt",
            event_type="key_rotation",
            outcome="success",
            duration_ms=int((time.perf_counter() - t0) * 1000),
            details={"primary_kid": primary, "reencrypted": counts},
        )
    return counts


def rotate(
    engine: Engine, vault: Vault, *, batch_size: int = 500, run_id: str = "keys"
) -> tuple[str, dict[str, int]]:
    """New primary key (key file only), then ``reencrypt``. Returns (new key id, counts)."""
    old = vault.keyring.primary_kid
    kid = vault.keyring.rotate()
    with engine.begin() as conn:
        audit.record(
            conn,
            run_id=run_id,
            step_id="rotate",
            event_type="key_rotation",
            outcome="success",
            details={"primary_kid": kid, "previous_kid": old},
        )
    return kid, reencrypt(engine, vault, batch_size=batch_size, run_id=run_id)
