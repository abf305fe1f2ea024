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
(docs/security.md lists the statements).
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

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


def reader_exists(conn: Connection, role: str = READER_ROLE) -> bool:
    return conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is not None


def _run(conn: Connection, template: str, *args: str | None) -> None:
    """Run a utility statement built by PostgreSQL's format() (%I identifiers, %L literals)."""
    binds = {f"a{i}": a for i, a in enumerate(args)}
    casts = ", ".join(f"CAST(:a{i} AS text)" for i in range(len(args)))
    statement = conn.execute(text(f"SELECT format(:t, {casts})"), {"t": template, **binds}).scalar_one()
    conn.execute(text(statement))


def ensure_reader_role(conn: Connection, store_password: str | None, role: str = READER_ROLE) -> str | None:
    """Create/refresh the reader role and its grants in the current database. Returns None when
    done, else one line saying why it could not (nothing changed then)."""
    if not _can_create_roles(conn):
        if not reader_exists(conn, role):
            return (
                f"the store's role cannot create the read-only role {role} (it needs CREATEROLE); "
                "`postpulse query` is refused until an administrator creates it (docs/security.md)"
            )
        try:
            with conn.begin_nested():
                _grant(conn, role)  # grants on our own tables need no CREATEROLE
        except DBAPIError:
            return f"could not grant the read-only role {role} SELECT on the store's tables"
        return None
    if not reader_exists(conn, role):
        try:
            with conn.begin_nested():
                _run(conn, "CREATE ROLE %I NOINHERIT", role)
        except DBAPIError:  # created meanwhile by a concurrent upgrade
            pass
    _run(conn, "ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS", role)
    password = reader_password(store_password)
    if password:
        _run(conn, "ALTER ROLE %I PASSWORD %L", role, password)
    else:
        _run(conn, "ALTER ROLE %I PASSWORD NULL", role)
    _run(conn, "ALTER ROLE %I SET default_transaction_read_only = on", role)
    _grant(conn, role)
    return None


#: columns the reader never sees, even as ciphertext or hash: it gets SELECT on the other columns
WITHHELD_COLUMNS = {
    "accounts": ("session_encrypted", "access_token_encrypted", "refresh_token_encrypted"),
    "dm_messages": ("content_encrypted",),
    "dm_threads": ("last_message_preview_encrypted",),
    "console_users": ("password_hash",),
    "vault_secrets": ("value_encrypted",),
}


def _grant(conn: Connection, role: str) -> None:
    db = conn.execute(text("SELECT current_database()")).scalar_one()
    try:
        with conn.begin_nested():
            _run(conn, "GRANT CONNECT ON DATABASE %I TO %I", db, role)
    except DBAPIError:
        pass  # not the database's owner: an administrator grants CONNECT (PUBLIC has it by default)
    _run(conn, "GRANT USAGE ON SCHEMA public TO %I", role)
    _run(conn, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I", role)
    _run(conn, "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %I", role)
    for table, withheld in WITHHELD_COLUMNS.items():
        columns = (
            conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = :t ORDER BY ordinal_position"
                ),
                {"t": table},
            )
            .scalars()
            .all()
        )
        if not columns:
            continue  # not in this schema (yet)
        _run(conn, "REVOKE SELECT ON public.%I FROM %I", table, role)
        shown = [c for c in columns if c not in withheld]
        if shown:
            listing = ", ".join(
                conn.execute(text("SELECT format('%I', CAST(:c AS text))"), {"c": c}).scalar_one()
                for c in shown
            )
            _run(conn, f"GRANT SELECT ({listing}) ON public.%I TO %I", table, role)


def refresh_reader_role(app_url: str) -> str | None:
    """``ensure_reader_role`` on the store at ``app_url`` (run by ``postpulse db upgrade``)."""
    from postpulse.store.database import make_engine

    engine = make_engine(app_url)
    try:
        with engine.begin() as conn:
            return ensure_reader_role(conn, engine.url.password)
    finally:
        engine.dispose()
