"""Recovery after a killed import: the killed importer's server session ends instead of running on,
the next import ends sessions of importers that no longer run and drops their staging tables even
while those sessions held locks on them, a server stopped mid-import gives one line, and an
embedded server left running by a killed process is reused and stopped with its last user."""

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from postpulse.ingest import import_sessions, side_staging
from postpulse.ingest.loader import import_file
from postpulse.store.urls import libpq_url
from tests.ingest.helpers import T0, T1, apify_name, scraper_items, write_json, write_jsonl

SLEEPING_IMPORTER = textwrap.dedent("""
    import sys
    from sqlalchemy import text
    from postpulse.ingest import loader
    from postpulse.ingest.loader import load_records
    from postpulse.store.database import make_engine
    # a statement that runs long inside the import's transaction, like a big merge
    real = loader._load_records
    def slow_merge(engine, records, source, progress, bytes_read, now, after_merge):
        sleep = lambda conn, run_id: conn.execute(text("SELECT pg_sleep(90)")) and None
        return real(engine, records, source, progress, bytes_read, now, sleep)
    loader._load_records = slow_merge
    loader.import_file(make_engine(sys.argv[1]), sys.argv[2])
""")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _sessions(db_url, pattern: str) -> list[tuple]:
    with psycopg.connect(libpq_url(db_url), autocommit=True) as c:
        return c.execute(
            "SELECT pid, application_name, query FROM pg_stat_activity WHERE application_name LIKE %s",
            (pattern,),
        ).fetchall()


def test_a_killed_importers_statement_ends_and_the_reimport_equals_a_clean_one(engine, db_url, tmp_path):
    items = scraper_items("instagram", n_profiles=10, posts_per_profile=10, seed=3)
    path = write_jsonl(tmp_path / apify_name("instagram-scraper", T0, "jsonl"), items)
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEPING_IMPORTER, db_url, str(path)], cwd=os.getcwd(), start_new_session=True
    )
    name = f"{import_sessions.APPLICATION_PREFIX} % {proc.pid} %"  # host, pid, file
    try:
        deadline = time.monotonic() + 60
        while not any("pg_sleep" in (q or "") for _, _, q in _sessions(db_url, name)):
            assert proc.poll() is None and time.monotonic() < deadline, "the importer never reached its merge"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the server notices the client is gone within the check interval, mid-statement
    deadline = time.monotonic() + 15
    while _sessions(db_url, name):
        assert time.monotonic() < deadline, "the killed importer's statement kept running"
        time.sleep(0.2)
    t0 = time.perf_counter()
    res = import_file(engine, path)
    assert res.status == "completed" and res.snapshots_new == len(items)
    assert time.perf_counter() - t0 < 60  # not behind the 90 s statement


def test_the_next_import_ends_sessions_of_killed_importers_and_drops_their_locked_tables(
    engine, db_url, tmp_path
):
    """A killed importer's session that still holds locks on its staging tables (its client is
    gone, the server has not noticed yet): the next import ends it, only it, and drops the tables
    (they were left behind when the 5 s lock timeout was hit)."""
    host = socket.gethostname()[:24]
    dead, alive = _dead_pid(), os.getpid()
    table = "import_staging.t0badc0ffee01_1_stg_post"
    with psycopg.connect(libpq_url(db_url), autocommit=True) as c:
        c.execute(f"CREATE UNLOGGED TABLE {table} (x int)")
    killed = psycopg.connect(libpq_url(db_url), application_name=f"postpulse import {host} {dead}")
    killed.execute(f"LOCK TABLE {table} IN ACCESS SHARE MODE")  # open transaction, as it died
    other_host = psycopg.connect(libpq_url(db_url), application_name=f"postpulse import elsewhere {dead}")
    live = psycopg.connect(libpq_url(db_url), application_name=f"postpulse import {host} {alive}")
    try:
        res = import_file(
            engine, write_json(tmp_path / apify_name("tiktok-scraper", T0), scraper_items("tiktok"))
        )
        assert res.status == "completed"
        with psycopg.connect(libpq_url(db_url), autocommit=True) as c:
            left = c.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'import_staging'").fetchone()[
                0
            ]
        assert left == 0
        assert killed.closed or killed.broken or _broken(killed)
        assert not _broken(other_host) and not _broken(live)  # another host's, and a live one's
    finally:
        for conn in (killed, other_host, live):
            conn.close()


def _broken(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
        return False
    except psycopg.OperationalError:
        return True


def test_locked_leftovers_are_retried_and_reported(db_url, caplog):
    """Tables still locked when the lock timeout hits are counted as left and reported; once the
    lock is gone the next pass drops them."""
    table = "import_staging.t0fee1dead001_1_stg_post"
    with psycopg.connect(libpq_url(db_url), autocommit=True) as c:
        c.execute(f"CREATE UNLOGGED TABLE {table} (x int)")
    holder = psycopg.connect(libpq_url(db_url))
    holder.execute(f"LOCK TABLE {table} IN ACCESS SHARE MODE")
    old_timeout = side_staging.DROP_LOCK_TIMEOUT
    side_staging.DROP_LOCK_TIMEOUT = "200ms"
    try:
        with psycopg.connect(libpq_url(db_url), autocommit=True) as c, caplog.at_level(logging.WARNING):
            assert side_staging.drop_orphans(c) == (0, 1)
            assert "still locked" in caplog.text
            holder.rollback()
            assert side_staging.drop_orphans(c) == (1, 0)
    finally:
        side_staging.DROP_LOCK_TIMEOUT = old_timeout
        holder.close()


STOPPING_CLI = textwrap.dedent("""
    import pathlib, sys, time
    from postpulse.ingest import merge, staging
    from postpulse.store import migrate
    from postpulse.store.database import connect_store
    migrate.upgrade(connect_store().urls.app)
    staging.CHUNK_RECORDS = 50
    marker = pathlib.Path(sys.argv[2])
    real = merge.merge_chunk
    def merge_chunk(*a, **kw):
        real(*a, **kw)
        if not marker.exists():
            marker.write_text("merging")
            while marker.read_text() != "stopped":
                time.sleep(0.1)
    merge.merge_chunk = merge_chunk
    from postpulse.ingest import loader
    loader.merge_chunk = merge_chunk
    from postpulse.cli import app
    app(["import", sys.argv[1]])
""")


@pytest.fixture
def home():
    """A short data directory: the server's socket goes inside it (a long path would put it in
    the shared runtime directory, where another test server may already listen)."""
    path = Path(tempfile.mkdtemp(prefix="pp-", dir="/tmp")) / "home"
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def _embedded_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_DATABASE_URL")}
    return {**env, "POSTPULSE_HOME": str(home), "PYTHONPATH": os.getcwd()}


def test_a_server_stopped_mid_import_gives_one_line(tmp_path, home):
    from postpulse.store.embedded import stop_embedded

    items = scraper_items("instagram", n_profiles=5, posts_per_profile=30, seed=4)
    path = write_jsonl(tmp_path / apify_name("instagram-scraper", T1, "jsonl"), items)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", STOPPING_CLI, str(path), str(marker)],
        env=_embedded_env(home),
        cwd=os.getcwd(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the import never reached its first chunk"
            time.sleep(0.1)
        assert stop_embedded(home)
        marker.write_text("stopped")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_embedded(home)
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err + out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "lost its database connection" in lines[0] and path.name in lines[0], err


STARTER = textwrap.dedent("""
    import sys, time
    from postpulse.store.embedded import start_embedded
    import pathlib
    start_embedded(pathlib.Path(sys.argv[1]))
    print("started", flush=True)
    if sys.argv[2] == "hang":
        time.sleep(300)
""")


def test_an_embedded_server_left_by_a_killed_process_is_reused_and_stopped(home):
    from postpulse.store.embedded import HANDLES_FILE, stop_embedded

    pgdata = home / "pg"
    env = _embedded_env(home)
    try:
        killed = subprocess.Popen(
            [sys.executable, "-c", STARTER, str(home), "hang"], env=env, stdout=subprocess.PIPE, text=True
        )
        assert killed.stdout.readline().strip() == "started"
        killed.kill()
        killed.wait(timeout=10)
        assert (pgdata / "postmaster.pid").exists()  # left running, the dead process still listed
        assert str(killed.pid) in (pgdata / HANDLES_FILE).read_text()
        reuse = subprocess.run(
            [sys.executable, "-c", STARTER, str(home), "exit"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert reuse.returncode == 0, reuse.stderr
        assert "left running" in reuse.stderr and str(killed.pid) in reuse.stderr
        deadline = time.monotonic() + 30
        while (pgdata / "postmaster.pid").exists():  # stopped with its last live user
            assert time.monotonic() < deadline, "the embedded server was not stopped"
            time.sleep(0.2)
    finally:
        stop_embedded(home)


STALLED_IMPORTER = textwrap.dedent("""
    import pathlib, sys, time
    from postpulse.ingest import loader
    from postpulse.store.database import make_engine
    marker = pathlib.Path(sys.argv[3])
    def progress(records, read):
        if not marker.exists():
            marker.write_text("importing")
            time.sleep(4)   # inside its transaction, holding the file's run row
    loader.import_file(make_engine(sys.argv[1]), sys.argv[2], progress=progress)
""")


def test_an_import_of_a_file_being_imported_says_it_waits(engine, db_url, tmp_path, caplog):
    path = write_json(tmp_path / apify_name("tiktok-scraper", T0), scraper_items("tiktok", seed=6))
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", STALLED_IMPORTER, db_url, str(path), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the other import never started"
            time.sleep(0.05)
        with caplog.at_level(logging.WARNING):
            res = import_file(engine, path)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert res.already_imported
    assert f"another import of this file is running (process {proc.pid} on" in caplog.text
