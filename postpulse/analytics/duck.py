"""DuckDB over the PostgreSQL store, read-only, with the postgres extension loaded offline.

``open_analytics(url)`` gives an in-memory DuckDB that

* loads the postgres extension from the ``duckdb-ext-postgres`` wheel (``duckdb_ext.init``
  points ``extension_directory`` at it and turns auto-install off: nothing is downloaded);
* ``ATTACH``es the store as ``pg`` with ``READ_ONLY`` (DuckDB opens every PostgreSQL
  transaction ``READ ONLY`` too, so even ``postgres_execute`` cannot write);
* creates one view per table of ``pg.public`` in its own catalog, so queries name tables
  unqualified (``SELECT * FROM posts``) while DuckDB's own temp objects stay local, plus the
  helper views of ``sql/queries/_views.sql`` (``snapshots``, ``post_dim``);
* runs in UTC (day boundaries of daily metrics are UTC days);
* then disables external access (no local files, no new ATTACH) and locks its configuration,
  so a user query can neither read the machine's files nor undo the lockdown.

User SQL goes through :func:`check_read_only` first: only single ``SELECT`` statements run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import make_url

from postpulse.analytics.errors import AnalyticsError, QueryRefused
from postpulse.errors import first_line
from postpulse.store.urls import redact

QUERIES_DIR = Path(__file__).resolve().parents[2] / "sql" / "queries"
THREADS_ENV = "POSTPULSE_DUCKDB_THREADS"
MEMORY_LIMIT_ENV = "POSTPULSE_DUCKDB_MEMORY_LIMIT"
HELPER_VIEWS = QUERIES_DIR / "_views.sql"


def libpq_conninfo(url: str) -> str:
    """A key/value libpq conninfo (``host=/sock dbname=x user=y``) from any PostgreSQL URL.

    SQLAlchemy URLs (``postgresql+psycopg://...``, socket directory in ``?host=``) are
    normalised first; the key/value form is what DuckDB's ATTACH accepts most reliably."""
    try:
        parsed = make_url(url)
        if parsed.drivername.startswith("postgres"):
            url = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    except Exception:
        pass  # already a key/value conninfo
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise AnalyticsError(
            f"the store URL {redact(url)} is not a PostgreSQL connection string",
            fix="set DATABASE_URL to postgresql://user:password@host:5432/database",
        ) from None
    return make_conninfo(**{k: v for k, v in params.items() if v not in (None, "")})


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Analytics:
    """An open DuckDB session over the store (``pg``)."""

    con: duckdb.DuckDBPyConnection
    display_url: str
    # results computed in this session that live outside DuckDB (e.g. the daily_metrics rows
    # waiting to be written), by name
    results: dict[str, Any] = field(default_factory=dict)

    def sql(self, query: str, params: dict[str, Any] | list | None = None):
        """Run trusted SQL (the named-query library, postpulse's own code) -> pandas DataFrame."""
        return self.con.execute(query, params or None).df()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Analytics:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _env_settings(threads: int | None, memory_limit: str | None) -> tuple[int | None, str | None]:
    """Explicit values win; else ``POSTPULSE_DUCKDB_THREADS`` / ``POSTPULSE_DUCKDB_MEMORY_LIMIT``
    (read when a session opens, not at import); unset means DuckDB's defaults (all cores, 80% RAM)."""
    if threads is None and os.environ.get(THREADS_ENV, "").strip():
        raw = os.environ[THREADS_ENV].strip()
        if not raw.isdigit() or int(raw) < 1:
            raise AnalyticsError(
                f"{THREADS_ENV}={raw!r} is not a positive whole number",
                fix=f"set {THREADS_ENV} to e.g. 2, or unset it to use every core",
            )
        threads = int(raw)
    if memory_limit is None and os.environ.get(MEMORY_LIMIT_ENV, "").strip():
        memory_limit = os.environ[MEMORY_LIMIT_ENV].strip()
    return threads, memory_limit


def open_analytics(
    url: str, *, threads: int | None = None, memory_limit: str | None = None, lockdown: bool = True
) -> Analytics:
    """Open an in-memory DuckDB with the store attached read-only as ``pg`` (see module doc)."""
    import duckdb_ext

    threads, memory_limit = _env_settings(threads, memory_limit)
    con = duckdb.connect(":memory:")
    try:
        duckdb_ext.init(con)  # extension_directory -> the wheel's folder, autoinstall off
        con.execute("LOAD postgres")
        con.execute("SET TimeZone = 'UTC'")
        if threads:
            con.execute("SET threads = ?", [int(threads)])
        if memory_limit:
            try:
                con.execute("SET memory_limit = ?", [memory_limit])
            except duckdb.Error:
                con.close()
                raise AnalyticsError(
                    f"memory limit {memory_limit!r} is not understood by DuckDB",
                    fix=f"set {MEMORY_LIMIT_ENV} to a size such as 2GB or 512MB",
                ) from None
        # binary COPY is the fast read path; filters on scanned columns are pushed to PostgreSQL
        con.execute("SET pg_use_binary_copy = true")
        con.execute("SET pg_experimental_filter_pushdown = true")
        # ATTACH takes no prepared parameters: the conninfo is our own config, quoted as a literal
        con.execute(f"ATTACH {_sql_literal(libpq_conninfo(url))} AS pg (TYPE postgres, READ_ONLY)")
        _create_views(con)
        if lockdown:
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        con.close()
        msg = first_line(exc)
        # never echo the conninfo (it may hold a password)
        msg = re.sub(r"(password=)\S+", r"\1***", msg)
        raise AnalyticsError(
            f"DuckDB could not open the store {redact(url)}: {msg}",
            fix="check that PostgreSQL runs and DATABASE_URL is right (`postpulse db status`), "
            "and that the schema is migrated (`postpulse db upgrade`)",
        ) from None
    return Analytics(con=con, display_url=redact(url))


def _create_views(con: duckdb.DuckDBPyConnection) -> None:
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'pg' AND schema_name = 'public' "
        "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'pg' AND schema_name = 'public'"
    ).fetchall()
    if not any(n == "data_downloads" for (n,) in names):
        raise duckdb.CatalogException("the store has no postpulse schema (table data_downloads is missing)")
    for (name,) in names:
        # catalog names, quoted as identifiers; not user input
        con.execute(
            f"CREATE OR REPLACE VIEW memory.main.{_ident(name)} AS SELECT * FROM pg.public.{_ident(name)}"
        )
    con.execute(HELPER_VIEWS.read_text())


def check_read_only(query: str) -> str:
    """Return the one SELECT statement in ``query`` or raise :class:`QueryRefused` (one line).

    Parsed by DuckDB's own parser (``extract_statements``) BEFORE anything runs: writes, DDL,
    ATTACH/COPY/SET/PRAGMA/LOAD and multiple statements are refused."""
    text = (query or "").strip()
    if not text:
        raise QueryRefused(
            "empty query", fix='pass one SELECT statement, e.g. postpulse query "SELECT count(*) FROM posts"'
        )
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryRefused(
            f"the query does not parse: {first_line(exc)}", fix="check the SQL syntax (DuckDB dialect)"
        ) from None
    if len(statements) != 1:
        raise QueryRefused(
            f"{len(statements)} statements given; only one SELECT is allowed", fix="run one SELECT at a time"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryRefused(
            f"refused: {kind.name} statements are not allowed; postpulse query is read-only",
            fix="use SELECT; the store changes only through postpulse's pipeline",
        )
    return text


def run_user_query(a: Analytics, query: str, params: dict[str, Any] | None = None):
    """Check ``query`` is read-only, then run it; errors become one-line AnalyticsErrors."""
    text = check_read_only(query)
    try:
        return a.con.execute(text, params or None).df()
    except duckdb.Error as exc:
        msg = first_line(exc)
        if "read-only" in msg.lower() or "read only" in msg.lower():
            raise QueryRefused(f"refused by the read-only store: {msg}") from None
        raise AnalyticsError(
            f"query failed: {msg}",
            fix="check table and column names; list the tables with: postpulse query "
            '"SELECT view_name FROM duckdb_views() WHERE NOT internal"',
        ) from None
