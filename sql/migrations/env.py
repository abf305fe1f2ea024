"""Alembic environment: one transaction per upgrade, serialized by an advisory lock.

PostgreSQL DDL is transactional, so a migration that fails half way leaves nothing behind.
"""

from alembic import context
from sqlalchemy import text

from postpulse.store.database import make_engine

config = context.config
LOCK_KEY = 0x706F7374  # "post": serializes concurrent `db upgrade`s


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from postpulse.store.database import resolve_urls

    return resolve_urls().app


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, transactional_ddl=True, transaction_per_migration=False)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
