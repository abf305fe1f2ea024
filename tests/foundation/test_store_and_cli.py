"""The store's resolution and the CLI's user-facing errors, through the real command."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from postpulse.store import migrate
from postpulse.store.database import connect_store
from postpulse.store.embedded import stop_embedded


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {}), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "postpulse", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def test_unreachable_database_url_is_one_clear_line_without_the_password(tmp_path):
    env = {"DATABASE_URL": "postgresql://alice:s3cretpw@127.0.0.1:1/nowhere", "POSTPULSE_HOME": str(tmp_path)}
    result = run_cli("db", "status", env=env)
    assert result.returncode == 1
    err = result.stderr.strip()
    assert "cannot reach PostgreSQL at postgresql+psycopg://alice:***@127.0.0.1:1/nowhere" in err
    assert "fix:" in err and "s3cretpw" not in err + result.stdout
    assert "Traceback" not in err


def test_unwritable_data_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {"POSTPULSE_HOME": str(blocker / "home")}
    env_clean = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "postpulse", "db", "status"],
        capture_output=True,
        text=True,
        env={**env_clean, **env, "COLUMNS": "200"},
        timeout=60,
    )
    assert result.returncode == 1
    assert "is not writable" in result.stderr and "POSTPULSE_HOME" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_commands_round_trip(store_env):
    assert "up to date" in run_cli("db", "status").stdout
    down = run_cli("db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    status = run_cli("db", "status").stdout
    assert (
        "pending: 0001_core, 0002_ingest, 0003_analytics, 0004_engagement, 0005_ingest_tuning, "
        "0006_posts_fillfactor" in status
    )
    up = run_cli("db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert migrate.status(store_env).up_to_date


def test_db_reset_deletes_data(store_env, engine):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tags (id, name) VALUES ('tag-00000001', 'keep?')"))
    result = run_cli("db", "reset", "--yes")
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tags")).scalar_one() == 0


def test_doctor_reports_each_part(store_env):
    result = run_cli("doctor")
    out = result.stdout
    for part in ("python", "package dagster", "duckdb postgres extension", "browser", "database", "schema"):
        assert part in out, part
    assert result.returncode == 0, out + result.stderr


def test_embedded_store_starts_reuses_and_stops(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    store = connect_store()
    assert store.urls.embedded and "/postpulse?" in store.urls.app
    migrate.upgrade(store.urls.app)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO tags (id, name) VALUES ('tag-0000abcd', 'persisted')"))
        schemas = set(conn.execute(text("SELECT schema_name FROM information_schema.schemata")).scalars())
    assert "dagster" in schemas
    store.dispose()
    assert stop_embedded(tmp_path / "home")
    again = connect_store()  # same data directory: the data is still there
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM tags")).scalar_one() == "persisted"
    again.dispose()
    assert stop_embedded(tmp_path / "home")
    assert not (tmp_path / "home" / "pg" / "postmaster.pid").exists()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_non_postgres_url_is_refused(url, tmp_path):
    result = run_cli("db", "status", env={"DATABASE_URL": url, "POSTPULSE_HOME": str(tmp_path)})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_plain_alembic_commands_work_from_the_checkout(store_env):
    def alembic(*args):
        return subprocess.run(
            [sys.executable, "-m", "alembic", "-c", "alembic.ini", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        )

    assert alembic("downgrade", "base").returncode == 0
    assert migrate.status(store_env).current is None
    assert alembic("upgrade", "head").returncode == 0
    assert f"{migrate.head_revision()} (head)" in alembic("current").stdout
