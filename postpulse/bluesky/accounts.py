"""Connect a Bluesky account: log in once with an app password, store the session encrypted.

The account row is ``platform='bluesky'``, ``platform_user_id`` = the DID, ``username`` = the
handle, ``metadata`` = ``{"service": ..., "did": ..., "driver": "bluesky"}`` (no secrets). A
second connect of the same DID replaces the stored session and clears ``needs_relogin``.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.crypto import Vault
from postpulse.engagement import audit
from postpulse.engagement import repository as repo
from postpulse.engagement.sessions import store_session

from . import session as bsky_session
from .errors import BlueskyError

PLATFORM = "bluesky"


def connect_account(
    engine: Engine,
    vault: Vault,
    handle: str,
    password: str,
    *,
    service: str = bsky_session.DEFAULT_SERVICE,
    authorize: bool = False,
    run_id: str = "manual",
) -> dict:
    """Log in and store the session; returns the account (no secrets). Raises BlueskyError."""
    handle = handle.strip().lstrip("@")
    service = service.rstrip("/")
    try:
        client = bsky_session.login(service, handle, password)
    except BlueskyError as exc:
        with engine.begin() as conn:
            audit.record(
                conn,
                run_id=run_id,
                step_id="login",
                event_type="login",
                outcome="failure",
                platform=PLATFORM,
                details={
                    "handle": handle,
                    "service": service,
                    "error_code": exc.code,
                    "message": exc.message,
                },
            )
        raise
    state = bsky_session.session_state(client, service)
    did, real_handle = state["did"], state["handle"] or handle
    meta = {"service": service, "did": did, "driver": PLATFORM}
    with engine.begin() as conn:
        existing = conn.execute(
            text(
                "SELECT id FROM accounts WHERE platform = :p "
                "AND (platform_user_id = :did OR lower(username) = lower(:h))"
            ),
            {"p": PLATFORM, "did": did, "h": real_handle},
        ).scalar()
        if existing is None:
            acc = repo.add_account(
                conn,
                platform=PLATFORM,
                username=real_handle,
                authorize=authorize,
                display_name=client.me.display_name if client.me else None,
                platform_user_id=did,
                metadata=meta,
            )
            account_id = acc["id"]
        else:
            account_id = existing
            conn.execute(
                text(
                    "UPDATE accounts SET username = :h, platform_user_id = :did, "
                    "metadata = metadata || CAST(:m AS jsonb), is_authorized = is_authorized OR :auth "
                    "WHERE id = :id"
                ),
                {"h": real_handle, "did": did, "m": json.dumps(meta), "auth": authorize, "id": account_id},
            )
        store_session(conn, vault, account_id, state)
        audit.record(
            conn,
            run_id=run_id,
            step_id="login",
            event_type="login",
            outcome="success",
            account_id=account_id,
            platform=PLATFORM,
            details={"handle": real_handle, "did": did, "service": service, "session": "stored encrypted"},
        )
        return repo.get_account(conn, account_id)


def bluesky_accounts(conn: Connection, handle: str | None = None) -> list[dict]:
    rows = conn.execute(
        text(
            "SELECT id, username, platform_user_id AS did, metadata, needs_relogin FROM accounts "
            "WHERE platform = 'bluesky' AND is_active "
            "AND (CAST(:h AS text) IS NULL OR lower(username) = lower(:h)) "
            "ORDER BY username"
        ),
        {"h": handle.lstrip("@") if handle else None},
    ).mappings()
    return [dict(r) for r in rows]
