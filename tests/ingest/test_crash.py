"""kill -9 in the middle of an import leaves the store as if it never started; rerunning gives
exactly the result of an uninterrupted import."""

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import text

from postpulse.ingest.loader import import_file
from postpulse.store.database import make_engine
from tests.conftest import app_url, create_db, drop_db
from tests.ingest.helpers import T0, apify_name, natural_snapshot, scraper_items, store_snapshot, write_jsonl

CHILD = textwrap.dedent("""
    import sys, time, pathlib
    from postpulse.ingest import loader, staging
    from postpulse.store.database import make_engine
    staging.CHUNK_RECORDS = 50
    marker = pathlib.Path(sys.argv[3])
    def progress(records, read):
        if records >= 100 and not marker.exists():
            marker.write_text(str(records))
            time.sleep(120)   # killed here, mid-import, transaction open
    loader.import_file(make_engine(sys.argv[1]), sys.argv[2], progress=progress)
""")


def _side_tables(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'import_staging'")).scalar()


def test_kill9_mid_import_then_rerun(engine, db_url, tmp_path, pg_server_url, migrated_template):
    # something already in the store, which must survive untouched
    import_file(
        engine,
        write_jsonl(
            tmp_path / apify_name("tiktok-scraper", T0, "jsonl"),
            scraper_items("tiktok", n_profiles=2, posts_per_profile=2),
        ),
    )
    before = store_snapshot(engine)
    items = scraper_items("instagram", n_profiles=30, posts_per_profile=10, seed=5)
    assert len(items) > 200
    big = write_jsonl(tmp_path / apify_name("instagram-scraper", T0, "jsonl"), items)
    marker = tmp_path / "mid-import"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, str(big), str(marker)], cwd=os.getcwd(), start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the importer exited before the kill"
            assert time.monotonic() < deadline, "the importer never reached the middle of the file"
            time.sleep(0.05)
        while _side_tables(engine) == 0:  # its chunks went through the side connection
            assert time.monotonic() < deadline + 10, "no side tables while the import ran"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # the server aborts the dead client's transaction; until then the rows are invisible anyway
    assert store_snapshot(engine) == before
    res = import_file(engine, big)  # waits for the aborted transaction's locks, then imports
    assert res.status == "completed" and res.snapshots_new == len(items)
    assert _side_tables(engine) == 0  # the killed import's side tables were dropped by the rerun
    after_rerun = natural_snapshot(engine)

    # the same two imports, uninterrupted, in a fresh database
    name = f"pp_test_{secrets.token_hex(5)}"
    create_db(pg_server_url, name, template=migrated_template)
    other = make_engine(app_url(pg_server_url, name))
    try:
        import_file(other, tmp_path / apify_name("tiktok-scraper", T0, "jsonl"))
        import_file(other, big)
        assert natural_snapshot(other) == after_rerun
    finally:
        other.dispose()
        drop_db(pg_server_url, name)
