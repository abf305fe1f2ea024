"""The idempotency hash of DM texts: keyed, so that stored hashes cannot be matched against a
word list.

A DM's ``text_hash`` (``action_queue``, ``action_attempts``) is ``h1:`` + HMAC-SHA256 of the
text's plain hash (``postpulse.policy.text_hash``: SHA-256 of the normalised text) under a
dedicated 32-byte *DM hash key*. Comments and replies keep the plain hash: their text is public.

Why a dedicated key, kept in the store: idempotency compares the hash of a new DM with the
hashes of DMs sent months ago, so the key must outlive key rotations. It is therefore not
derived from an encryption key (those rotate), and not kept in the key file (keys supplied in
``POSTPULSE_SECRET_KEY`` have no place for it). It is generated once, stored encrypted like any
other secret (``vault_secrets``, id ``dm_text_hash``, re-encrypted by ``keys rotate``), and so
readable only with the keyring. Losing the keyring loses it, together with the DMs themselves.

Why HMAC over the plain hash rather than over the text: stored hashes from before the key
existed (plain SHA-256) can be converted without the text, which retention may already have
redacted. ``dm_hash_key`` converts them in the same transaction that creates the key, so the
store never mixes the two forms.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.crypto import Vault
from postpulse.policy import text_hash

from .envelopes import vault_secret_aad

HASH_KEY_ID = "dm_text_hash"
PREFIX = "h1:"
KEY_BYTES = 32


def keyed(key: bytes, plain_hash: str) -> str:
    """The keyed form of a plain ``text_hash`` value."""
    return PREFIX + hmac.new(key, plain_hash.encode("ascii"), hashlib.sha256).hexdigest()


def dm_text_hash(key: bytes, value: str) -> str:
    """The idempotency hash of a DM text under the DM hash key."""
    return keyed(key, text_hash(value))


def dm_hash_key(conn: Connection, vault: Vault) -> bytes:
    """The DM hash key, created (and the store's plain DM hashes converted) on first use."""
    row = conn.execute(
        text("SELECT value_encrypted FROM vault_secrets WHERE id = :i"), {"i": HASH_KEY_ID}
    ).first()
    if row is None:
        key = secrets.token_bytes(KEY_BYTES)
        created = conn.execute(
            text(
                "INSERT INTO vault_secrets (id, value_encrypted) VALUES (:i, :v) "
                "ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            {"i": HASH_KEY_ID, "v": vault.encrypt(key, vault_secret_aad(HASH_KEY_ID))},
        ).first()
        if created is not None:
            _convert_plain_hashes(conn, key)
            return key
        row = conn.execute(
            text("SELECT value_encrypted FROM vault_secrets WHERE id = :i"), {"i": HASH_KEY_ID}
        ).one()
    return vault.decrypt(bytes(row[0]), vault_secret_aad(HASH_KEY_ID))


def rehash_legacy_rows(conn: Connection, vault: Vault) -> int:
    """Convert any plain DM hash still stored (written before the key existed, or by an older
    postpulse since); returns how many rows changed."""
    if not _has_plain_dm_hashes(conn):
        return 0
    key = dm_hash_key(conn, vault)
    return _convert_plain_hashes(conn, key)


_PLAIN = "action_type = 'dm_send' AND text_hash IS NOT NULL AND text_hash NOT LIKE 'h1:%'"


def _has_plain_dm_hashes(conn: Connection) -> bool:
    return bool(
        conn.execute(
            text(
                f"SELECT EXISTS (SELECT 1 FROM action_queue WHERE {_PLAIN}) "
                f"OR EXISTS (SELECT 1 FROM action_attempts WHERE {_PLAIN})"
            )
        ).scalar_one()
    )


def _convert_plain_hashes(conn: Connection, key: bytes) -> int:
    """Plain -> keyed in action_queue, action_attempts (column and ``input``) and the audit
    details that carry one of those hashes."""
    changed = 0
    mapping: dict[str, str] = {}
    for table in ("action_queue", "action_attempts"):
        rows = conn.execute(
            text(
                f"SELECT id, text_hash FROM {table} WHERE action_type = 'dm_send' AND text_hash IS NOT NULL "
                "AND text_hash NOT LIKE 'h1:%'"
            )
        ).all()
        for rid, plain in rows:
            mapping.setdefault(plain, keyed(key, plain))
            conn.execute(
                text(f"UPDATE {table} SET text_hash = :h WHERE id = :id"), {"h": mapping[plain], "id": rid}
            )
            changed += 1
    if mapping:
        conn.execute(
            text(
                "UPDATE action_attempts SET input = jsonb_set(input, '{text_hash}', "
                "CAST(:m AS jsonb) -> (input->>'text_hash')) "
                "WHERE action_type = 'dm_send' AND input ? 'text_hash' "
                "AND CAST(:m AS jsonb) ? (input->>'text_hash')"
            ),
            {"m": json.dumps(mapping)},
        )
        conn.execute(
            text(
                "UPDATE audit_entries SET details = jsonb_set(details, '{text_hash}', "
                "CAST(:m AS jsonb) -> (details->>'text_hash')) "
                "WHERE details ? 'text_hash' AND CAST(:m AS jsonb) ? (details->>'text_hash') "
                "AND action_id IN (SELECT id FROM action_queue WHERE action_type = 'dm_send')"
            ),
            {"m": json.dumps(mapping)},
        )
    return changed
