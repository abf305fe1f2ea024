"""Storing computed daily_metrics rows: one PostgreSQL table per UTC day, loaded in parallel and
swapped in at once.

Storage (migration 0007): ``daily_metrics`` is the one table users query, but every UTC day's
rows live in a child table ``daily_metrics_days.dYYYYMMDD`` (table inheritance; the parent holds
no rows). :func:`write_daily` replaces the days of a computed range:

1. :class:`DailyWriter` takes the advisory lock ``WRITE_LOCK`` in the *swap transaction* and
   holds it to the end, so concurrent writers run one after another. Unattached tables that a
   killed writer left (``nYYYYMMDD``, never visible to queries) are dropped first.
2. ``loaders`` connections load the days side by side: each day into a new, unattached table
   ``nYYYYMMDD`` with the columns and CHECKs of ``daily_metrics`` (binary COPY with FREEZE into a
   table of the same transaction, no index during the load), then its primary key, committed.
   A long range is computed and loaded in parts (bounded memory), all under the same lock.
3. The swap transaction drops the old day tables, attaches the new ones (``ALTER TABLE ...
   INHERIT``) and renames them, then commits: readers see the old days or the new days of the
   whole range, never a mix; a failure anywhere drops the loaded tables and leaves the old rows.

Why several connections: PostgreSQL parses a COPY in the one backend that receives it, and the
load is the largest step of a backfill (8.4 M rows for 30 days at 10 M snapshots); two backends
parse two days at a time. Why not write through DuckDB: the analytics attach is READ_ONLY on
purpose (user queries run on it), and DuckDB's own insert was no faster than a CSV COPY here;
binary COPY encoded by pgpq is ~25 % faster than CSV (benchmarks/README.md).
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import date, timedelta

import pgpq
import psycopg

from postpulse.analytics.daily_rows import COLUMNS, SCHEMA, DailyRows
from postpulse.analytics.errors import AnalyticsError
from postpulse.errors import first_line
from postpulse.store.urls import libpq_url

DAYS_SCHEMA = "daily_metrics_days"  # one child table of daily_metrics per UTC day (migration 0007)
WRITE_LOCK = "postpulse.daily_metrics"
PARENT = "public.daily_metrics"
PARENT_ONLY_CHECK = "daily_metrics_rows_live_in_days"  # CHECK (false) NO INHERIT: not on the children
KEY = "metric_date, grain, entity_id"
DEFAULT_LOADERS = 2


def _day_table(d: date, prefix: str = "d") -> str:
    return f"{prefix}{d:%Y%m%d}"  # from a date value, not from input


def _binary_chunks(rows: DailyRows, day: date):
    """One day's rows in PostgreSQL's binary COPY format (pgpq), in primary-key order. The Arrow
    types match the columns of daily_metrics exactly (date, text, bigint, integer, double,
    boolean): binary COPY does no conversion."""
    encoder = pgpq.ArrowToPostgresBinaryEncoder(SCHEMA)
    yield encoder.write_header()
    for batch in rows.day_batches(day):
        yield encoder.write_batch(batch)
    yield encoder.finish()


def _prefetched(chunks, depth: int = 4):
    """Run the generator ``chunks`` in a thread (Arrow and the encoder release the GIL), so
    that encoding the next rows overlaps PostgreSQL parsing the previous ones."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work():
        try:
            for c in chunks:
                if stop.is_set():
                    return
                q.put(c)
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    t = threading.Thread(target=work, daemon=True, name="daily-metrics-copy")
    t.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


def _load_day(conn: psycopg.Connection, rows: DailyRows, day: date) -> tuple[float, float]:
    """Load one day into a new unattached table and build its key, committed. Returns the
    seconds of the load and of the key."""
    name = _day_table(day, "n")
    t0 = time.perf_counter()
    with conn.transaction():
        conn.execute(
            f"CREATE TABLE {DAYS_SCHEMA}.{name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
            f"CONSTRAINT one_day CHECK (metric_date = DATE '{day.isoformat()}'))"
        )
        conn.execute(f"ALTER TABLE {DAYS_SCHEMA}.{name} DROP CONSTRAINT IF EXISTS {PARENT_ONLY_CHECK}")
        with conn.cursor().copy(
            f"COPY {DAYS_SCHEMA}.{name} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT binary, FREEZE)"
        ) as cp:
            for chunk in _prefetched(_binary_chunks(rows, day)):
                cp.write(chunk)
        t1 = time.perf_counter()
        conn.execute(f"ALTER TABLE {DAYS_SCHEMA}.{name} ADD CONSTRAINT {name}_pkey PRIMARY KEY ({KEY})")
    return t1 - t0, time.perf_counter() - t1


def _load_days(
    libpq: str, rows: DailyRows, days: list[date], loaders: int, loaded: list[date], timings: dict[str, float]
) -> None:
    """Load ``days`` on ``loaders`` connections at once; every committed day is appended to
    ``loaded`` (so that a failure can drop them). The first error is raised once all have
    stopped."""
    todo: queue.Queue = queue.Queue()
    for d in days:
        todo.put(d)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work():
        try:
            with psycopg.connect(libpq, autocommit=True) as conn:
                conn.execute("SET maintenance_work_mem = '256MB'")  # the key builds sort in memory
                while not errors:
                    try:
                        d = todo.get_nowait()
                    except queue.Empty:
                        return
                    t_load, t_key = _load_day(conn, rows, d)
                    with lock:
                        loaded.append(d)
                        timings["load"] = timings.get("load", 0.0) + t_load
                        timings["key"] = timings.get("key", 0.0) + t_key
        except BaseException as exc:  # raised by write_daily
            with lock:
                errors.append(exc)

    threads = [
        threading.Thread(target=work, name=f"daily-metrics-loader-{i}", daemon=True)
        for i in range(max(1, min(loaders, len(days))))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _drop_unattached(conn: psycopg.Connection, only: list[date] | None = None) -> None:
    """Drop the loaded but unattached day tables (``only`` those days, else every one a killed
    writer left). Call it holding WRITE_LOCK, or for tables of one's own."""
    names = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname ~ '^n[0-9]{8}$' "
        "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
        (DAYS_SCHEMA,),
    ).fetchall()
    wanted = None if only is None else {_day_table(d, "n") for d in only}
    doomed = [name for (name,) in names if wanted is None or name in wanted]
    if doomed:  # catalog names of the form nYYYYMMDD (matched above)
        conn.execute("DROP TABLE " + ", ".join(f"{DAYS_SCHEMA}.{name}" for name in doomed))


class DailyWriter:
    """Replaces the daily_metrics rows of the days [start, end) (see the module doc), used as a
    context manager: :meth:`load` loads computed rows (one or more parts of the range, each day
    at most once) into unattached tables, the first load taking WRITE_LOCK in the swap
    transaction; :meth:`swap` replaces the range's days by the loaded ones and commits. Closed
    without a swap, or on an error, it rolls back and drops what it loaded: the old rows stay.
    A day of the range with no loaded rows has no table afterwards."""

    def __init__(self, store_url: str, start: date, end: date, loaders: int = DEFAULT_LOADERS):
        self.start, self.end, self.loaders = start, end, loaders
        self.libpq = libpq_url(store_url)
        self.timings: dict[str, float] = {"load": 0.0, "key": 0.0, "swap": 0.0}
        self.loaded: list[date] = []
        self.replaced = 0
        self._conn: psycopg.Connection | None = None
        self._swapped = False

    def __enter__(self) -> DailyWriter:
        return self

    def _begin(self) -> None:
        """Take the lock (waiting for another writer), drop a killed writer's tables, find the
        range's old day tables. Done at the first load, so that computing does not hold it."""
        if self._conn is not None:
            return
        try:
            self._conn = psycopg.connect(self.libpq)
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (WRITE_LOCK,))
            with psycopg.connect(self.libpq, autocommit=True) as helper:
                _drop_unattached(helper)  # a killed writer's (we hold the lock)
            days = [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]
            self._old = [
                name
                for (name,) in self._conn.execute(
                    "SELECT c.relname FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    f"WHERE i.inhparent = '{PARENT}'::regclass AND n.nspname = %s AND c.relname = ANY(%s) "
                    "ORDER BY c.oid",  # the order in which readers of daily_metrics lock its children
                    (DAYS_SCHEMA, [_day_table(d) for d in days]),
                ).fetchall()
            ]
            if self._old:  # catalog names of the form dYYYYMMDD (matched above)
                self.replaced = int(
                    self._conn.execute(
                        "SELECT "
                        + " + ".join(f"(SELECT count(*) FROM {DAYS_SCHEMA}.{name})" for name in self._old)
                    ).fetchone()[0]
                )
        except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable) as exc:
            raise _not_migrated(exc) from None

    def load(self, rows: DailyRows) -> None:
        days = rows.days()
        if rows.start < self.start or rows.end > self.end or set(days) & set(self.loaded):
            raise AnalyticsError(
                f"rows of {rows.start} .. {rows.end} do not fit the write of "
                f"{self.start} .. {self.end} (or a day was loaded twice)"
            )
        self._begin()
        _load_days(self.libpq, rows, days, self.loaders, self.loaded, self.timings)

    def swap(self) -> None:
        self._begin()
        t0 = time.perf_counter()
        if self._old:  # one statement, children in OID order: no lock-order deadlock with a reader
            self._conn.execute("DROP TABLE " + ", ".join(f"{DAYS_SCHEMA}.{name}" for name in self._old))
        for d in sorted(self.loaded):
            new, final = _day_table(d, "n"), _day_table(d)
            self._conn.execute(f"ALTER TABLE {DAYS_SCHEMA}.{new} INHERIT {PARENT}")
            self._conn.execute(f"ALTER TABLE {DAYS_SCHEMA}.{new} RENAME TO {final}")
            self._conn.execute(f"ALTER INDEX {DAYS_SCHEMA}.{new}_pkey RENAME TO {final}_pkey")
        self._conn.commit()
        self._swapped = True
        self.timings["swap"] = time.perf_counter() - t0

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._conn is None:
            return
        try:
            if not self._swapped:
                try:
                    self._conn.rollback()
                except psycopg.Error:
                    pass  # a lost connection: its transaction is gone with it
                if self.loaded:  # committed by the loaders, never attached
                    with psycopg.connect(self.libpq, autocommit=True) as helper:
                        _drop_unattached(helper, only=self.loaded)
        finally:
            self._conn.close()


def _not_migrated(exc: Exception) -> AnalyticsError:
    return AnalyticsError(
        f"the store's daily_metrics is not migrated: {first_line(exc)}", fix="run `postpulse db upgrade`"
    )


def write_daily(
    store_url: str, rows: DailyRows, steps: dict[str, float] | None = None, loaders: int = DEFAULT_LOADERS
) -> int:
    """Replace the daily_metrics rows of the days [rows.start, rows.end) by ``rows``. Returns the
    number of rows replaced (counted in the old day tables). ``steps``: seconds of load and key
    (summed over the loaders) and of the swap."""
    with DailyWriter(store_url, rows.start, rows.end, loaders) as writer:
        writer.load(rows)
        writer.swap()
    if steps is not None:
        steps.update(writer.timings)
    return writer.replaced
