"""The dedicated PostgreSQL role the analytics connect as: ``postpulse_reader``.

It logs in, is no superuser, creates nothing, is a member of no role (so no
``pg_read_server_files`` and the like), has ``SELECT`` on the tables and views of the store's
``public`` schema (also on those created later by the migrating role: default privileges) and
runs every transaction read-only (``default_transaction_read_only``).

Its password is derived from the store role's password (HMAC-SHA256), so that nothing new has
to be stored: whoever holds ``DATABASE_URL`` can already read everything. Without a password in
``DATABASE_URL`` (the embedded server: local connections are trusted) the reader has none either.

``ensure_reader_role`` runs in the migration that introduced it and at every ``postpulse db
upgrade``; it needs a role that may create roles (superuser or ``CREATEROLE``). When the store's
role cannot, it says so and changes nothing: the pipeline's own analytics then read as the store
role, and ``postpulse query`` (user SQL) refuses to run until an administrator creates the role
(``reader_role_sql`` prints the statements).
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import text
from sqlalchemy.engine import Connection

READER_ROLE = "postpulse_reader"


def reader_password(store_password: str | None) -> str | None:
    if not store_password:
        return None
    return hmac.new(store_password.encode(), b"postpulse analytics reader", hashlib.sha256).hexdigest()


def _can_create_roles(conn: Connection) -> bool:
    return bool(
        conn.execute(
            text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        ).scalar()
    )


def reader_exists(conn: Connection) -> bool:
    return (
        conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": READER_ROLE}).first()
        is not None
    )


def reader_role_sql(database: str, store_role: str) -> list[str]:
    """What an administrator runs when the store's role cannot create roles (no password shown)."""
    r = READER_ROLE
    return [
        f"CREATE ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '...'",
        f"ALTER ROLE {r} SET default_transaction_read_only = on",
        f'GRANT CONNECT ON DATABASE "{database}" TO {r}',
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r}",
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{store_role}" IN SCHEMA public GRANT SELECT ON TABLES TO {r}',
    ]


def ensure_reader_role(conn: Connection, store_password: str | None) -> str | None:
    """Create/refresh the reader role and its grants in the current database. Returns None when
    done, else one line saying why it could not (nothing changed then)."""
    r = READER_ROLE
    exists = reader_exists(conn)
    can = _can_create_roles(conn)
    if not can:
        if exists:
            # grants on our own tables need no CREATEROLE
            _grant(conn)
            return None
        return (
            f"the store's role cannot create the read-only role {r} (needs CREATEROLE); "
            "`postpulse query` stays refused until an administrator creates it"
        )
    if not exists:
        conn.execute(
            text(
                "DO $$ BEGIN CREATE ROLE postpulse_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                "NOREPLICATION NOBYPASSRLS NOINHERIT; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        )
    conn.execute(
        text(
            "ALTER ROLE postpulse_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        )
    )
    password = reader_password(store_password)
    statement = (
        conn.execute(
            text("SELECT format('ALTER ROLE %I PASSWORD %L', CAST(:r AS text), CAST(:p AS text))"),
            {"r": r, "p": password},
        ).scalar_one()
        if password
        else "ALTER ROLE postpulse_reader PASSWORD NULL"
    )
    conn.execute(text(statement))
    conn.execute(text("ALTER ROLE postpulse_reader SET default_transaction_read_only = on"))
    conn.execute(text("ALTER ROLE postpulse_reader SET statement_timeout = '10min'"))
    _grant(conn)
    return None


def _grant(conn: Connection) -> None:
    db = conn.execute(text("SELECT current_database()")).scalar_one()
    conn.execute(
        text(
            conn.execute(
                text("SELECT format('GRANT CONNECT ON DATABASE %I TO postpulse_reader', CAST(:d AS text))"),
                {"d": db},
            ).scalar_one()
        )
    )
    conn.execute(text("GRANT USAGE ON SCHEMA public TO postpulse_reader"))
    conn.execute(text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO postpulse_reader"))
    conn.execute(text("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO postpulse_reader"))
