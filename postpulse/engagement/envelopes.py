"""Where postpulse stores envelopes, and the associated data that binds each one to its row.

Every ciphertext is bound to its row and column (AES-GCM associated data), so a ciphertext
copied into another row or column does not decrypt. ``COLUMNS`` lists every place envelopes are
stored (``postpulse.engagement.keys`` checks and rotates them); ``refuse_new_key_over_envelopes``
is the guard that keeps a lost key file from being silently replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.crypto import MissingKeyError, Vault, VaultError, envelope_from_text, envelope_to_text
from postpulse.crypto.keyring import ENV_VAR


def dm_content_aad(message_id: str) -> bytes:
    return f"dm_messages:{message_id}:content".encode()


def dm_preview_aad(thread_id: str) -> bytes:
    return f"dm_threads:{thread_id}:last_message_preview".encode()


def session_aad(account_id: str) -> bytes:
    return f"accounts:{account_id}:session".encode()


def token_aad(account_id: str, which: str) -> bytes:
    if which not in ("access_token", "refresh_token"):
        raise ValueError(f"unknown token column {which!r}")
    return f"accounts:{account_id}:{which}".encode()


def queued_text_aad(action_id: str) -> bytes:
    return f"action_queue:{action_id}:text".encode()


def vault_secret_aad(secret_id: str) -> bytes:
    return f"vault_secrets:{secret_id}:value".encode()


@dataclass(frozen=True)
class Column:
    """Where envelopes are stored: a bytea column, or (``in_json``) the text form inside
    ``action_queue.action_params``."""

    name: str
    table: str
    column: str
    aad: Callable[[str], bytes]
    key_id_column: str | None = None
    in_json: bool = False

    @property
    def select_sql(self) -> str:
        if self.in_json:
            return (
                f"SELECT id, action_params->>'{self.column}' FROM {self.table} "
                f"WHERE action_params ? '{self.column}'"
            )
        return f"SELECT id, {self.column} FROM {self.table} WHERE {self.column} IS NOT NULL"

    def envelope(self, value: object) -> bytes:
        return envelope_from_text(value) if self.in_json else bytes(value)  # type: ignore[arg-type]

    def update(self, conn: Connection, rid: str, envelope: bytes, kid: str) -> None:
        if self.in_json:
            conn.execute(
                text(
                    f"UPDATE {self.table} SET action_params = jsonb_set(action_params, '{{{self.column}}}', "
                    "to_jsonb(CAST(:t AS text))) WHERE id = :id"
                ),
                {"t": envelope_to_text(envelope), "id": rid},
            )
        elif self.key_id_column:
            conn.execute(
                text(f"UPDATE {self.table} SET {self.column} = :b, {self.key_id_column} = :k WHERE id = :id"),
                {"b": envelope, "k": kid, "id": rid},
            )
        else:
            conn.execute(
                text(f"UPDATE {self.table} SET {self.column} = :b WHERE id = :id"), {"b": envelope, "id": rid}
            )


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
    Column("action_queue.text", "action_queue", "text_encrypted", queued_text_aad, in_json=True),
    Column("vault_secrets.value", "vault_secrets", "value_encrypted", vault_secret_aad),
)


def envelope_counts(conn: Connection) -> dict[str, int]:
    """Stored envelopes per column (only the columns that hold any)."""
    out: dict[str, int] = {}
    for c in COLUMNS:
        n = conn.execute(text(f"SELECT count(*) FROM ({c.select_sql}) AS e")).scalar_one()
        if n:
            out[c.name] = int(n)
    return out


def refuse_new_key_over_envelopes(engine: Engine, key_file: str) -> None:
    """Raise MissingKeyError if the store holds envelopes: a new key could not decrypt them."""
    with engine.connect() as conn:
        counts = envelope_counts(conn)
        if not counts:
            return
        kids: set[str] = set()
        for c in COLUMNS:
            for _, value in conn.execute(text(c.select_sql + " LIMIT 50")):
                try:
                    kids.add(Vault.key_id(c.envelope(value)))
                except VaultError:
                    pass
    total = sum(counts.values())
    listing = ", ".join(f"{k}: {n}" for k, n in counts.items())
    raise MissingKeyError(
        f"refusing to create a new encryption key: the store holds {total} encrypted values ({listing}) "
        f"under key id(s) {', '.join(sorted(kids)) or 'unknown'}, and the key file {key_file} is missing. "
        f"Restore that file from your backup (mode 0600), or set {ENV_VAR} to the key; "
        "a new key could not decrypt them"
    )
