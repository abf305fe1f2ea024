"""Browser sessions: log in once, keep Playwright's storage state encrypted, reuse it.

- ``login_account`` logs in through the platform's login form (Chromium, headless) and stores
  ``context.storage_state()`` (cookies + local storage) as an AES-256-GCM envelope in
  ``accounts.session_encrypted`` with associated data ``accounts:<id>:session``: the envelope
  does not decrypt in another account's row.
- The platform password is never stored: ``postpulse accounts login`` prompts for it (or reads
  the environment variable named by ``--password-env``) and forgets it after the login.
- ``load_session`` decrypts it for the executor; a missing or wrong key raises the vault's
  ``MissingKeyError`` / ``DecryptionError`` (never garbage).
- An expired session (the site redirects to its login page) sets ``needs_relogin``; the
  account's actions wait (policy reason ``needs_relogin``) until ``accounts login`` again.
- ``logout`` deletes the stored session (sessions are kept "until logout").
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.crypto import Vault

from . import audit
from .repository import utcnow
from .secrets import session_aad


def store_session(
    conn: Connection, vault: Vault, account_id: str, state: dict, *, now: datetime | None = None
) -> None:
    blob = vault.encrypt(json.dumps(state, separators=(",", ":")), session_aad(account_id))
    conn.execute(
        text(
            "UPDATE accounts SET session_encrypted = :b, session_updated_at = :now, needs_relogin = false, "
            "status = 'active' WHERE id = :id"
        ),
        {"b": blob, "now": now or utcnow(), "id": account_id},
    )


def load_session(conn: Connection, vault: Vault, account_id: str) -> dict | None:
    blob = conn.execute(
        text("SELECT session_encrypted FROM accounts WHERE id = :id"), {"id": account_id}
    ).scalar()
    if blob is None:
        return None
    return json.loads(vault.decrypt_text(bytes(blob), session_aad(account_id)))


def clear_session(conn: Connection, account_id: str, *, run_id: str = "manual") -> None:
    conn.execute(
        text("UPDATE accounts SET session_encrypted = NULL, session_updated_at = now() WHERE id = :id"),
        {"id": account_id},
    )
    audit.record(
        conn,
        run_id=run_id,
        step_id="logout",
        event_type="session_end",
        outcome="success",
        account_id=account_id,
        details={"reason": "logout"},
    )


def mark_needs_relogin(
    conn: Connection,
    account_id: str,
    *,
    run_id: str,
    reason: str,
    platform: str | None = None,
    action_id: str | None = None,
) -> None:
    conn.execute(
        text(
            "UPDATE accounts SET needs_relogin = true, status = 'expired', last_error_message = :r, "
            "last_error_at = now() WHERE id = :id"
        ),
        {"id": account_id, "r": reason},
    )
    audit.record(
        conn,
        run_id=run_id,
        step_id="session",
        event_type="session_end",
        outcome="failure",
        account_id=account_id,
        platform=platform,
        action_id=action_id,
        details={
            "reason_code": "session_expired",
            "message": reason,
            "fix": "run `postpulse accounts login <username>`; queued actions wait until then",
        },
    )


def login_account(
    engine: Engine,
    vault: Vault,
    account_id: str,
    password: str,
    *,
    base_url: str,
    browser=None,
    run_id: str = "manual",
) -> dict:
    """Log in with Chromium and store the encrypted session. Returns a summary (no secrets)."""
    from .drivers.registry import open_driver, resolve

    with engine.connect() as conn:
        acc = (
            conn.execute(
                text("SELECT id, platform, username, metadata FROM accounts WHERE id = :id"),
                {"id": account_id},
            )
            .mappings()
            .one()
        )
    driver_name, site = resolve(acc["platform"], acc["metadata"])
    own = None
    if browser is None:
        from playwright.sync_api import sync_playwright

        from postpulse.browser import launch_args

        own = sync_playwright().start()
        browser = own.chromium.launch(**launch_args())
    try:
        driver = open_driver(
            driver_name, browser, base_url=base_url, site=site, username=acc["username"], storage_state=None
        )
        try:
            state = driver.login(password)
        finally:
            driver.close()
    except Exception as exc:
        with engine.begin() as conn:
            audit.record(
                conn,
                run_id=run_id,
                step_id="login",
                event_type="login",
                outcome="failure",
                account_id=account_id,
                platform=acc["platform"],
                details={"error_code": getattr(exc, "code", type(exc).__name__), "message": str(exc)[:300]},
            )
        raise
    finally:
        if own is not None:
            browser.close()
            own.stop()
    with engine.begin() as conn:
        store_session(conn, vault, account_id, state)
        audit.record(
            conn,
            run_id=run_id,
            step_id="login",
            event_type="login",
            outcome="success",
            account_id=account_id,
            platform=acc["platform"],
            details={
                "cookies": len(state.get("cookies", [])),
                "key_id": Vault.key_id(
                    conn.execute(
                        text("SELECT session_encrypted FROM accounts WHERE id = :id"), {"id": account_id}
                    ).scalar()
                ),
            },
        )
    return {"account_id": account_id, "site": site, "cookies": len(state.get("cookies", []))}
