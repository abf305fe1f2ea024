"""Connect an account through the consent page, and open a connector for a connected account.

The account row is ``platform=<platform>``, ``platform_user_id`` = the platform's user/channel
id, ``metadata`` = ``{"driver": "official_<platform>", "connected_via": "oauth", "scope": ...}``;
connecting the same user again replaces the tokens and clears ``needs_relogin``.
"""

from __future__ import annotations

import json
import os
import secrets
import webbrowser
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.api_usage import record_calls
from postpulse.crypto import Vault
from postpulse.engagement import audit
from postpulse.engagement import repository as repo
from postpulse.engagement.sessions import store_session

from . import connector_class
from .base import Connector
from .errors import TokenRevoked
from .oauth import RedirectReceiver, TokenSet, pkce_pair
from .tokens import app_credentials, load_tokens, mark_revoked, save_tokens


def connect_account(
    engine: Engine,
    vault: Vault,
    platform: str,
    *,
    open_url: Callable[[str], object] | None = None,
    timeout_s: float = 300.0,
    authorize: bool = False,
    announce: Callable[[str], None] = print,
    port: int = 0,
) -> dict:
    """Run the consent flow: print (and open) the URL, receive the code on 127.0.0.1, store tokens.

    ``open_url`` defaults to the system browser when there is one; tests pass a Playwright page.
    """
    cls = connector_class(platform)
    with engine.connect() as conn:
        cid, secret = app_credentials(cls.platform, conn, vault, secret_required=cls.secret_required)
    conn_ = cls(cid, secret)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    try:
        with RedirectReceiver(state, port=port) as receiver:
            url = conn_.consent_url(receiver.redirect_uri, state, challenge)
            announce(f"Open this page to allow postpulse access to your {cls.platform} account:\n{url}")
            (open_url or _open_browser)(url)
            code = receiver.wait_code(timeout_s)
        tokens = conn_.exchange_code(code, verifier, receiver.redirect_uri)
        me = conn_.me()
    except Exception:
        with engine.begin() as conn:
            record_calls(conn, cls.platform, conn_.calls)
        conn_.close()
        raise
    conn_.close()
    meta = {"driver": f"official_{cls.platform}", "connected_via": "oauth", **me.get("meta", {})}
    with engine.begin() as conn:
        existing = conn.execute(
            text(
                "SELECT id FROM accounts WHERE platform = :p "
                "AND (platform_user_id = :uid OR lower(username) = lower(:u))"
            ),
            {"p": cls.platform, "uid": me["id"], "u": me["username"]},
        ).scalar()
        if existing is None:
            account_id = repo.add_account(
                conn,
                platform=cls.platform,
                username=me["username"],
                authorize=authorize,
                display_name=me.get("display_name"),
                platform_user_id=me["id"],
                metadata=meta,
            )["id"]
        else:
            account_id = existing
            conn.execute(
                text(
                    "UPDATE accounts SET username = :u, platform_user_id = :uid, "
                    "metadata = metadata || CAST(:m AS jsonb), is_authorized = is_authorized OR :auth "
                    "WHERE id = :id"
                ),
                {
                    "u": me["username"],
                    "uid": me["id"],
                    "m": json.dumps(meta),
                    "auth": authorize,
                    "id": account_id,
                },
            )
        if me.get("followers") is not None:
            conn.execute(
                text("UPDATE accounts SET followers_count = :f WHERE id = :id"),
                {"f": me["followers"], "id": account_id},
            )
        save_tokens(conn, vault, account_id, tokens)
        # the account's "session" for the executor: connected through OAuth, the tokens are in
        # their own columns (nothing secret here)
        store_session(
            conn, vault, account_id, {"kind": "oauth", "platform": cls.platform, "user_id": me["id"]}
        )
        record_calls(conn, cls.platform, conn_.calls, account_id=account_id)
        audit.record(
            conn,
            run_id="manual",
            step_id="connect",
            event_type="login",
            outcome="success",
            account_id=account_id,
            platform=cls.platform,
            details={"via": "oauth_pkce", "scope": tokens.scope, "tokens": "stored encrypted"},
        )
        return repo.get_account(conn, account_id)


def _open_browser(url: str) -> None:
    try:
        webbrowser.open(url, new=2)
    except Exception:  # no browser on this machine: the printed URL is enough
        pass


def open_connector(
    engine: Engine, vault: Vault, account_id: str, *, sleep: Callable[[float], None] | None = None
) -> Connector:
    """A connector for a connected account; refreshed tokens are stored at once (encrypted)."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                text("SELECT platform, platform_user_id, username, metadata FROM accounts WHERE id = :id"),
                {"id": account_id},
            )
            .mappings()
            .one()
        )
        cls = connector_class(row["platform"])
        cid, secret = app_credentials(cls.platform, conn, vault, secret_required=cls.secret_required)
        tokens = load_tokens(conn, vault, account_id)
        extra = {}
        if getattr(cls, "daily_quota", None):
            extra["quota_left"] = quota_left(conn, cls.platform, cls.daily_quota)
    if tokens is None:
        raise TokenRevoked(
            f"@{row['username']} on {cls.platform} has no access token",
            fix=f"run `postpulse accounts connect {cls.platform}`",
        )

    def save(new: TokenSet) -> None:
        with engine.begin() as conn:
            save_tokens(conn, vault, account_id, new)

    meta = {**(row["metadata"] or {}), "user_id": row["platform_user_id"], "username": row["username"]}
    connector = cls(cid, secret, tokens=tokens, on_tokens=save, sleep=sleep, meta=meta, **extra)

    def record(calls: list) -> None:
        with engine.begin() as conn:
            record_calls(conn, cls.platform, calls, account_id=account_id)

    connector.record = record
    return connector


def quota_left(conn: Connection, platform: str, default_quota: int) -> int:
    """Units left today (days start at midnight Pacific Time, as Google counts them)."""
    quota = int(os.environ.get(f"POSTPULSE_{platform.upper()}_DAILY_QUOTA") or default_quota)
    used = conn.execute(
        text(
            "SELECT coalesce(sum(quota_units), 0) FROM api_usage WHERE provider = :p AND "
            "(called_at AT TIME ZONE 'America/Los_Angeles')::date = "
            "(now() AT TIME ZONE 'America/Los_Angeles')::date"
        ),
        {"p": platform},
    ).scalar()
    return max(0, quota - int(used))


def flag_revoked(engine: Engine, account_id: str, platform: str, exc: TokenRevoked, calls=()) -> None:
    with engine.begin() as conn:
        record_calls(conn, platform, calls, account_id=account_id)
        mark_revoked(conn, account_id, platform, exc.message)
