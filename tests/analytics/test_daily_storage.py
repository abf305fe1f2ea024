"""daily_metrics storage (migration 0007): one child table per UTC day, replaced by a swap.

Migration round trip with rows, the writer's transaction (a failed write keeps the old rows),
serialised writers, the empty parent, and DuckDB reading the day tables through the parent."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from postpulse.analytics import synthetic
from postpulse.analytics.daily import DAILY_ROWS, compute_daily, materialize_daily
from postpulse.analytics.daily_store import DAYS_SCHEMA, WRITE_LOCK, write_daily
from postpulse.store import migrate
from postpulse.store.urls import libpq_url

from .conftest import utc
from .test_daily import DAY0, DAY_END

BEFORE = "0006_posts_fillfactor"
AFTER = "0007_daily_metrics_storage"  # the migration this file tests; later ones add columns
CONSTRAINTS = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = 'public.daily_metrics'::regclass ORDER BY 1"
)
COLUMNS = (
    "SELECT column_name, data_type, column_default, is_nullable FROM information_schema.columns "
    "WHERE table_schema = 'public' AND table_name = 'daily_metrics' ORDER BY ordinal_position"
)
INDEXES = (
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
    "AND tablename = 'daily_metrics' ORDER BY 1"
)
ALL_ROWS = "SELECT * FROM daily_metrics ORDER BY metric_date, grain, entity_id"
# every column but computed_at (the time of the write)
ALL_BUT_STAMP = (
    "SELECT to_jsonb(d) - 'computed_at' FROM daily_metrics d ORDER BY metric_date, grain, entity_id"
)


def _schema(conn) -> tuple:
    return (
        conn.execute(CONSTRAINTS).fetchall(),
        conn.execute(COLUMNS).fetchall(),
        conn.execute(INDEXES).fetchall(),
    )


def _day_tables(conn) -> dict[str, int]:
    return dict(
        conn.execute(
            "SELECT c.relname, (SELECT count(*) FROM pg_inherits i WHERE i.inhrelid = c.oid "
            "AND i.inhparent = 'public.daily_metrics'::regclass) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r' "
            "ORDER BY 1",
            (DAYS_SCHEMA,),
        ).fetchall()
    )


def test_migration_round_trip_keeps_daily_metrics_rows(empty_db_url):
    migrate.upgrade(empty_db_url, BEFORE)
    with psycopg.connect(libpq_url(empty_db_url)) as conn:
        conn.execute("""
            INSERT INTO daily_metrics (metric_date, grain, entity_id, platform, reactions_total,
                engagement_new,
                                       engagement_rate, posts_tracked, snapshots, is_estimated, is_settled)
            SELECT DATE '2025-01-30' + (g % 3), (ARRAY['post', 'profile', 'platform'])[1 + g % 3], 'e' || g,
                'x',
                   g, g / 7.0, CASE WHEN g % 2 = 0 THEN g / 1000.0 END, 1, g % 5, g % 2 = 0, CASE
                       WHEN g % 4 = 0 THEN true END
            FROM generate_series(1, 5000) g""")
        conn.commit()
        before, rows = _schema(conn), conn.execute(ALL_ROWS).fetchall()

    migrate.upgrade(empty_db_url, AFTER)
    with psycopg.connect(libpq_url(empty_db_url)) as conn:
        assert conn.execute(ALL_ROWS).fetchall() == rows
        assert (
            conn.execute("SELECT count(*) FROM ONLY daily_metrics").fetchone()[0] == 0
        )  # the parent holds none
        assert _day_tables(conn) == {"d20250130": 1, "d20250131": 1, "d20250201": 1}
        cons, cols, idx = _schema(conn)
        assert cols == before[1], "same columns, types, defaults"
        assert set(cons) - set(before[0]) == {("daily_metrics_rows_live_in_days", "CHECK (false) NO INHERIT")}
        assert set(before[0]) <= set(cons)
        assert [name for name, _ in idx] == ["daily_metrics_pkey"]  # the two secondary indexes are gone
        with pytest.raises(psycopg.errors.CheckViolation, match="daily_metrics_rows_live_in_days"):
            conn.execute(
                "INSERT INTO daily_metrics (metric_date, grain, entity_id) VALUES ('2025-01-30', 'post', 'z')"
            )

    migrate.downgrade(empty_db_url, BEFORE)
    with psycopg.connect(libpq_url(empty_db_url)) as conn:
        assert conn.execute(ALL_ROWS).fetchall() == rows
        assert _schema(conn) == before, "downgrade restores the 0006 table exactly (constraints, indexes)"
        assert (
            conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (DAYS_SCHEMA,)).fetchone()[0]
            == 0
        )

    migrate.upgrade(empty_db_url, AFTER)
    with psycopg.connect(libpq_url(empty_db_url)) as conn:
        assert conn.execute(ALL_ROWS).fetchall() == rows
        assert len(_day_tables(conn)) == 3
    migrate.upgrade(empty_db_url)
    assert migrate.status(empty_db_url).up_to_date


def test_materialize_swaps_day_tables_and_duckdb_reads_them(duck, db_url, scenario):
    first = materialize_daily(duck, db_url, DAY0, DAY_END)
    with psycopg.connect(libpq_url(db_url)) as conn:
        tables = _day_tables(conn)
        per_day = dict(
            conn.execute(
                "SELECT to_char(metric_date, '\"d\"YYYYMMDD'), count(*) FROM daily_metrics GROUP BY 1"
            ).fetchall()
        )
        assert set(tables) == set(per_day) and all(
            tables.values()
        )  # a table per day with rows, all inherited
        assert sum(per_day.values()) == first.rows
        assert conn.execute("SELECT count(*) FROM ONLY daily_metrics").fetchone()[0] == 0
        keys = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND indexdef LIKE "
            "'%%UNIQUE%%(metric_date, grain, entity_id)'",
            (DAYS_SCHEMA,),
        ).fetchone()[0]
        assert keys == len(tables)
        cur = conn.execute(ALL_ROWS)
        stamp = [d.name for d in cur.description].index("computed_at")
        before = [r[:stamp] + r[stamp + 1 :] for r in cur.fetchall()]
    # DuckDB reads the day tables through the parent (a single scan: the parent has 0 pages)
    assert duck.con.execute("SELECT count(*) FROM daily_metrics").fetchone()[0] == first.rows

    # re-materializing one day replaces that day only; the others keep their rows and tables
    day = DAY0 + timedelta(days=2)
    again = materialize_daily(duck, db_url, day, day + timedelta(days=1))
    assert again.deleted == per_day[f"d{day:%Y%m%d}"]
    with psycopg.connect(libpq_url(db_url)) as conn:
        after = [r[:stamp] + r[stamp + 1 :] for r in conn.execute(ALL_ROWS).fetchall()]
        assert set(_day_tables(conn)) == set(tables)
    assert after == before  # all but computed_at


def test_stored_rows_equal_the_computed_rows_in_every_column(duck, db_url, scenario):
    """The binary COPY (pgpq) stores exactly what DuckDB computed: every column's value and NULL,
    doubles bit for bit."""
    from postpulse.analytics.daily import COLUMNS as DAILY_COLUMNS

    # a post seen once with its publication time unknown: nothing to difference, rate NULL
    (once,) = synthetic.add_posts(db_url, [{"platform": "instagram", "posted_at": None}])
    synthetic.add_snapshots(db_url, [dict(post_id=once, downloaded_at=utc(2025, 1, 12, 8), like_count=3)])
    res = materialize_daily(duck, db_url, DAY0, DAY_END)
    cols = ", ".join(DAILY_COLUMNS)
    order = " ORDER BY metric_date, grain, entity_id"
    computed = duck.con.execute(f"SELECT {cols} FROM dm_final{order}").fetchall()
    with psycopg.connect(libpq_url(db_url)) as conn:
        stored = conn.execute(f"SELECT {cols} FROM daily_metrics{order}").fetchall()
    assert len(stored) == len(computed) == res.rows > 0
    assert stored == computed
    # the scenario exercises NULLs and fractions, so the comparison covers them
    assert any(r[DAILY_COLUMNS.index("is_settled")] is None for r in stored)
    assert any(r[DAILY_COLUMNS.index("engagement_rate")] is None for r in stored)
    assert any(isinstance(v, float) and v != int(v) for r in stored for v in r[10:18] if v is not None)


def test_failed_write_keeps_the_previous_rows(duck, db_url, scenario):
    materialize_daily(duck, db_url, DAY0, DAY_END)
    with psycopg.connect(libpq_url(db_url)) as conn:
        before, tables = conn.execute(ALL_ROWS).fetchall(), _day_tables(conn)
    compute_daily(duck, DAY0, DAY_END)
    # the last day's COPY fails on a CHECK, after the earlier days' new tables were loaded
    rows = duck.results[DAILY_ROWS]
    r = rows.rollups
    last = pc.equal(r["metric_date"], pc.max(r["metric_date"]))
    broken = pc.and_(last, pc.equal(r["grain"], "platform"))
    assert pc.any(broken).as_py()
    i = r.schema.get_field_index("reactions_total")
    rows.rollups = r.set_column(
        i, "reactions_total", pc.if_else(broken, pa.scalar(-1, pa.int64()), r["reactions_total"])
    )
    with pytest.raises(psycopg.errors.CheckViolation):
        write_daily(db_url, duck.results[DAILY_ROWS])
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute(ALL_ROWS).fetchall() == before
        assert _day_tables(conn) == tables  # no half-written table left behind


def test_concurrent_writers_are_serialised(duck, db_url, scenario):
    compute_daily(duck, DAY0, DAY_END)
    done = threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            write_daily(db_url, duck.results[DAILY_ROWS])
        except BaseException as exc:  # reported below
            errors.append(exc)
        done.set()

    with psycopg.connect(libpq_url(db_url)) as other:
        other.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (WRITE_LOCK,))  # another writer is busy
        t = threading.Thread(target=writer)
        t.start()
        time.sleep(1.0)
        assert not done.is_set(), "the writer must wait for the other writer's transaction"
        other.rollback()
    t.join(30)
    assert done.is_set() and not errors
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM daily_metrics").fetchone()[0] > 0


def test_day_without_rows_drops_its_table(duck, db_url, scenario):
    materialize_daily(duck, db_url, DAY0, DAY_END)
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert "d20250116" in _day_tables(conn)  # post D's last snapshot
        conn.execute("DELETE FROM data_downloads WHERE downloaded_at >= '2025-01-16'")
    res = materialize_daily(duck, db_url, date(2025, 1, 16), DAY_END)
    assert res.rows == 0 and res.deleted > 0
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert "d20250116" not in _day_tables(conn) and "d20250115" in _day_tables(conn)
        assert (
            conn.execute("SELECT count(*) FROM daily_metrics WHERE metric_date >= '2025-01-16'").fetchone()[0]
            == 0
        )


def test_writer_waits_for_a_reader_of_the_old_rows(duck, db_url, scenario):
    materialize_daily(duck, db_url, DAY0, DAY_END)
    compute_daily(duck, DAY0, DAY_END)
    done = threading.Event()
    with psycopg.connect(libpq_url(db_url)) as reader:
        n = reader.execute("SELECT count(*) FROM daily_metrics").fetchone()[0]  # holds its locks until commit
        t = threading.Thread(target=lambda: (write_daily(db_url, duck.results[DAILY_ROWS]), done.set()))
        t.start()
        time.sleep(1.0)
        assert not done.is_set(), "the swap must wait for the reader's transaction"
        assert reader.execute("SELECT count(*) FROM daily_metrics").fetchone()[0] == n
        reader.commit()
    t.join(30)
    assert done.is_set()


def test_day_tables_match_the_parent_and_a_killed_writers_tables_are_dropped(duck, db_url, scenario):
    """The loaders' tables are attached with the parent's columns and CHECKs (plus one_day, minus
    the parent-only CHECK); a table a killed writer loaded but never attached is invisible to
    queries and dropped by the next write."""
    materialize_daily(duck, db_url, DAY0, DAY_END)
    with psycopg.connect(libpq_url(db_url)) as conn:
        rows = conn.execute(ALL_BUT_STAMP).fetchall()

        def checks(rel):
            return {
                name
                for (name,) in conn.execute(
                    "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c'",
                    (rel,),
                )
            }

        parent = checks("public.daily_metrics")
        child = checks(f"{DAYS_SCHEMA}.d20250112")
        assert child == (parent - {"daily_metrics_rows_live_in_days"}) | {"one_day"} and len(parent) > 3
        conn.execute(
            f"CREATE TABLE {DAYS_SCHEMA}.n20250112 (LIKE public.daily_metrics)"
        )  # as a killed loader left it
        conn.execute(
            f"INSERT INTO {DAYS_SCHEMA}.n20250112 SELECT * FROM daily_metrics "
            "WHERE metric_date = '2025-01-12'"
        )
        conn.commit()
        assert conn.execute(ALL_BUT_STAMP).fetchall() == rows  # not part of daily_metrics
    materialize_daily(duck, db_url, date(2025, 1, 14), DAY_END)
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert "n20250112" not in _day_tables(conn)
        assert all(attached for attached in _day_tables(conn).values())
        assert conn.execute(ALL_BUT_STAMP).fetchall() == rows


def test_a_range_computed_in_parts_is_stored_as_one_and_all_or_nothing(duck, db_url, scenario, monkeypatch):
    """Parts of 2 days store the same rows as one pass; a failure in a later part leaves every
    old row and no table behind, although the earlier parts were already loaded."""
    import postpulse.analytics.daily as daily

    materialize_daily(duck, db_url, DAY0, DAY_END)
    with psycopg.connect(libpq_url(db_url)) as conn:
        whole, tables = conn.execute(ALL_BUT_STAMP).fetchall(), _day_tables(conn)
    res = materialize_daily(duck, db_url, DAY0, DAY_END, days_per_part=2)
    assert res.rows == len(whole) and res.deleted == len(whole)
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute(ALL_BUT_STAMP).fetchall() == whole
        assert _day_tables(conn) == tables
        conn.execute(
            "DELETE FROM data_downloads WHERE downloaded_at < '2025-01-12'"
        )  # the new rows would differ
    calls = []
    real = daily.compute_daily

    def failing(a, start, end, **kw):
        calls.append(start)
        if len(calls) == 3:
            raise RuntimeError("the third part fails")
        return real(a, start, end, **kw)

    monkeypatch.setattr(daily, "compute_daily", failing)
    with pytest.raises(RuntimeError, match="third part"):
        daily.materialize_daily(duck, db_url, DAY0, DAY_END, days_per_part=2)
    assert len(calls) == 3
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute(ALL_BUT_STAMP).fetchall() == whole
        assert _day_tables(conn) == tables  # the first two parts' tables were dropped
