"""Tokens and app credentials at rest, encrypted in the vault.

* An account's tokens live in ``accounts.access_token_encrypted`` / ``refresh_token_encrypted``
  (AES-256-GCM envelopes bound to the row and column, see ``postpulse.engagement.secrets``) and
  ``token_expires_at``; the granted scope sits in ``metadata.scope`` (not a secret).
* A revoked grant sets ``needs_relogin`` (status ``expired``): the account's actions wait and
  the user is told to connect again.
* An app's client id and secret come from ``POSTPULSE_<PLATFORM>_CLIENT_ID`` /
  ``POSTPULSE_<PLATFORM>_CLIENT_SECRET``, else from ``app_settings`` (``official_app:<platform>``,
  the secret encrypted) written by ``postpulse platforms set-app``.
"""

from __future__ import annotations

import base64
import json
import os

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.crypto import Vault
from postpulse.engagement.secrets import token_aad
from postpulse.engagement.sessions import mark_needs_relogin

from .errors import NotConfigured
from .oauth import TokenSet


def save_tokens(conn: Connection, vault: Vault, account_id: str, tokens: TokenSet) -> None:
    refresh = (
        vault.encrypt(tokens.refresh_token, token_aad(account_id, "refresh_token"))
        if tokens.refresh_token
        else None
    )
    conn.execute(
        text(
            "UPDATE accounts SET access_token_encrypted = :a, refresh_token_encrypted = :r, "
            "token_expires_at = :exp, needs_relogin = false, status = 'active', "
            "metadata = metadata || CAST(:meta AS jsonb), updated_at = now() WHERE id = :id"
        ),
        {
            "a": vault.encrypt(tokens.access_token, token_aad(account_id, "access_token")),
            "r": refresh,
            "exp": tokens.expires_at,
            "meta": json.dumps({"scope": tokens.scope} if tokens.scope else {}),
            "id": account_id,
        },
    )


def load_tokens(conn: Connection, vault: Vault, account_id: str) -> TokenSet | None:
    row = conn.execute(
        text(
            "SELECT access_token_encrypted, refresh_token_encrypted, token_expires_at, metadata->>'scope' "
            "FROM accounts WHERE id = :id"
        ),
        {"id": account_id},
    ).first()
    if row is None or row[0] is None:
        return None
    return TokenSet(
        access_token=vault.decrypt_text(bytes(row[0]), token_aad(account_id, "access_token")),
        refresh_token=(
            vault.decrypt_text(bytes(row[1]), token_aad(account_id, "refresh_token")) if row[1] else None
        ),
        expires_at=row[2],
        scope=row[3],
    )


def mark_revoked(
    conn: Connection, account_id: str, platform: str, reason: str, *, run_id: str = "manual"
) -> None:
    mark_needs_relogin(
        conn,
        account_id,
        run_id=run_id,
        reason=f"{reason}; run `postpulse accounts connect {platform}` to connect it again",
        platform=platform,
    )


def _app_key(platform: str) -> str:
    return f"official_app:{platform}"


def _secret_aad(platform: str) -> bytes:
    return f"app_settings:{_app_key(platform)}:client_secret".encode()


def store_app(
    conn: Connection, vault: Vault, platform: str, client_id: str, client_secret: str | None
) -> None:
    value = {"client_id": client_id}
    if client_secret:
        value["client_secret"] = base64.b64encode(
            vault.encrypt(client_secret, _secret_aad(platform))
        ).decode()
    conn.execute(
        text(
            "INSERT INTO app_settings (key, value, updated_at) VALUES (:k, CAST(:v AS jsonb), now()) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
        ),
        {"k": _app_key(platform), "v": json.dumps(value)},
    )


def app_credentials(
    platform: str, conn: Connection | None = None, vault: Vault | None = None, *, secret_required: bool = True
) -> tuple[str, str | None]:
    """``(client_id, client_secret)``: the environment first, then the vault."""
    env = platform.upper()
    cid = os.environ.get(f"POSTPULSE_{env}_CLIENT_ID")
    secret = os.environ.get(f"POSTPULSE_{env}_CLIENT_SECRET")
    if not cid and conn is not None:
        value = conn.execute(
            text("SELECT value FROM app_settings WHERE key = :k"), {"k": _app_key(platform)}
        ).scalar()
        if value:
            cid = value.get("client_id")
            if value.get("client_secret") and vault is not None:
                secret = vault.decrypt_text(base64.b64decode(value["client_secret"]), _secret_aad(platform))
    if not cid or (secret_required and not secret):
        raise NotConfigured(
            f"no {platform} app is configured (client id{' and secret' if secret_required else ''})",
            fix=f"set POSTPULSE_{env}_CLIENT_ID and POSTPULSE_{env}_CLIENT_SECRET, or run "
            f"`postpulse platforms set-app {platform} --client-id ID` (secret on stdin); "
            "see docs/official-apis.md for creating the app",
        )
    return cid, secret
