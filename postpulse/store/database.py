"""Open the store: ``DATABASE_URL`` if set, else the embedded server; engines for it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from postpulse import config
from postpulse.errors import StoreUnavailable, first_line
from postpulse.store.embedded import APP_DATABASE, start_embedded
from postpulse.store.urls import DAGSTER_SCHEMA, StoreUrls, libpq_url, redact

TCP_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def make_engine(url: str, **kwargs) -> Engine:
    """A SQLAlchemy engine on psycopg 3, with a short connect timeout, stale-conn checks and TCP
    keepalives (a server or client gone silent is noticed within about a minute; ignored over a
    Unix socket)."""
    connect_args = {"connect_timeout": 5, **TCP_KEEPALIVES, **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def check_connection(url: str) -> str:
    """Connect once; return the server version or raise a one-line StoreUnavailable."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        raise StoreUnavailable(
            f"cannot reach PostgreSQL at {redact(url)}: {first_line(exc)}",
            fix="check DATABASE_URL (host, port, user, password, database) and that the server runs; "
            "unset it to use the embedded PostgreSQL",
        ) from None


def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server if missing; return a URL pointing at it."""
    with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def ensure_schema(url: str, schema: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


@dataclass
class Store:
    """The resolved store: URLs plus a lazily created engine."""

    urls: StoreUrls
    server_version: str = ""
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.urls.app)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def resolve_urls(*, keep_running: bool = False) -> StoreUrls:
    """The store's URLs, starting the embedded server when ``DATABASE_URL`` is unset."""
    url = config.database_url()
    embedded = url is None
    if embedded:
        server = start_embedded(config.data_dir(), keep_running=keep_running)
        url = ensure_database(server, APP_DATABASE)
    try:
        return StoreUrls.from_base(url, dagster_override=config.dagster_database_url(), embedded=embedded)
    except Exception as exc:  # sqlalchemy's ArgumentError (echoes the URL: not shown) or our ValueError
        reason = first_line(exc) if isinstance(exc, ValueError) else "it could not be parsed"
        raise StoreUnavailable(
            f"DATABASE_URL is not a usable PostgreSQL URL: {reason}",
            fix="use the form postgresql://user:password@host:5432/database",
        ) from None


def connect_store(*, keep_running: bool = False) -> Store:
    """Resolve, check and prepare the store (Dagster's schema included)."""
    urls = resolve_urls(keep_running=keep_running)
    version = check_connection(urls.app)
    if not config.dagster_database_url():
        ensure_schema(urls.app, DAGSTER_SCHEMA)
    return Store(urls=urls, server_version=version)


@functools.lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One shared engine per URL within a process (resources and CLI reuse it)."""
    return make_engine(url)
