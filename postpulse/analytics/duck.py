"""DuckDB over the PostgreSQL store, read-only, with the postgres extension loaded offline.

``open_analytics(url)`` gives an in-memory DuckDB that

* loads the postgres extension from the ``duckdb-ext-postgres`` wheel (``duckdb_ext.init``
  points ``extension_directory`` at it and turns auto-install off: nothing is downloaded);
* ``ATTACH``es the store as ``pg`` with ``READ_ONLY``, logged in as the read-only role
  ``postpulse_reader`` (``postpulse.analytics.reader_role``: SELECT on the store's tables only,
  no superuser, read-only transactions); the credentials go into a temporary DuckDB secret, so
  ``duckdb_databases()``/``PRAGMA database_list`` show no connection string or password. Where
  that role does not exist (the store's role could not create it) the store's own role is used
  and :func:`run_user_query` refuses user SQL;
* creates one view per table of ``pg.public`` in its own catalog, so queries name tables
  unqualified (``SELECT * FROM posts``) while DuckDB's own temp objects stay local, plus the
  helper views of ``sql/queries/_views.sql`` (``snapshots``, ``post_dim``);
* runs in UTC (day boundaries of daily metrics are UTC days);
* then disables external access (no local files, no new ATTACH) and locks its configuration,
  so a user query can neither read the machine's files nor undo the lockdown.

User SQL goes through :func:`check_read_only` first: only single ``SELECT`` statements run, and
DuckDB's own parse tree of the statement is walked: table functions other than a few harmless
ones (``range``, ``unnest``, the ``duckdb_*`` catalog) are refused, so ``postgres_query``,
``postgres_scan`` (a new connection to any server), ``query``, ``read_csv`` and the like never run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import make_url

from postpulse.analytics.errors import AnalyticsError, QueryRefused
from postpulse.analytics.reader_role import READER_ROLE, reader_password
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
    # True when the store is attached as the read-only role (required for user SQL)
    as_reader: bool = False
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
    url: str,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    lockdown: bool = True,
    reader_role: str = READER_ROLE,
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
        as_reader = _attach(con, url, reader_role)
        _create_views(con)
        if lockdown:
            _lock_down(con)
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
    return Analytics(con=con, display_url=redact(url), as_reader=as_reader)


_SECRET_FIELDS = {
    "host": "HOST",
    "port": "PORT",
    "dbname": "DATABASE",
    "user": "USER",
    "password": "PASSWORD",
}


def _attach(con: duckdb.DuckDBPyConnection, url: str, reader_role: str) -> bool:
    """ATTACH the store as ``pg``, as the read-only role if it can log in (returns True), else
    as the store's own role. Host, port, database, user and password go into a temporary secret
    (bound as parameters); only other libpq options stay in the attached path."""
    params = conninfo_to_dict(libpq_conninfo(url))
    reader = {**params, "user": reader_role, "password": reader_password(params.get("password"))}
    try:
        _attach_as(con, reader)
        return True
    except duckdb.Error:
        pass  # no such role, or it cannot log in: fall back (user SQL is then refused)
    _attach_as(con, params)
    return False


def _attach_as(con: duckdb.DuckDBPyConnection, params: dict) -> None:
    fields = {k: str(v) for k, v in params.items() if k in _SECRET_FIELDS and v not in (None, "")}
    options = ", ".join(f"{_SECRET_FIELDS[k]} ${k}" for k in fields)
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET postpulse_store (TYPE postgres, {options})", fields)
    extra = {k: v for k, v in params.items() if k not in _SECRET_FIELDS and k != "sslpassword" and v}
    # ATTACH takes no prepared parameters: the options are our own config, quoted as a literal
    path = _sql_literal(make_conninfo(**extra) if extra else "")
    con.execute(f"ATTACH {path} AS pg (TYPE postgres, SECRET postpulse_store, READ_ONLY)")


def _lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No files, no network, no new extensions, no unredacted secrets; then freeze the settings."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET allow_community_extensions = false")
    con.execute("SET allow_unredacted_secrets = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


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
    _check_functions(text)
    return text


#: table functions user SQL may call: generated rows and DuckDB's own catalog, nothing that
#: opens a file, a connection or runs another statement
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "json_each",
        "json_tree",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_columns",
        "duckdb_schemas",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_keywords",
        "duckdb_constraints",
        "duckdb_indexes",
        "pragma_table_info",
    }
)
REFUSED_FUNCTIONS = frozenset({"getenv", "query", "query_table", "json_execute_serialized_sql"})
REFUSED_PREFIXES = ("postgres_", "read_")


def _function_nodes(node: Any) -> Iterator[tuple[str, bool]]:
    """(function name, called as a table function) for every function in a serialized tree."""
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            fn = node["function"]
            yield str(fn.get("function_name", "")), True
            for child in fn.get("children", []):
                yield from _function_nodes(child)
            rest = {k: v for k, v in node.items() if k != "function"}
            yield from _function_nodes(rest)
            return
        if node.get("class") == "FUNCTION" and "function_name" in node:
            yield str(node["function_name"]), False
        for value in node.values():
            yield from _function_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _function_nodes(value)


def _check_functions(text: str) -> None:
    """Refuse table functions outside ``ALLOWED_TABLE_FUNCTIONS`` and the refused scalar
    functions, found in DuckDB's own parse tree of the statement (not in its text)."""
    with duckdb.connect(":memory:") as parser:
        tree = json.loads(parser.execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0])
    if tree.get("error"):
        raise QueryRefused(
            f"the query cannot be checked: {tree.get('error_message', 'unsupported statement')}",
            fix="use a plain SELECT over the store's tables and views",
        )
    for name, as_table in _function_nodes(tree.get("statements", [])):
        lname = name.lower()
        if as_table and lname not in ALLOWED_TABLE_FUNCTIONS:
            raise QueryRefused(
                f"refused: the table function {name}() is not available in postpulse query "
                "(it could read files, other databases or the network)",
                fix="query the store's tables and views, e.g. SELECT * FROM posts",
            )
        if not as_table and (lname in REFUSED_FUNCTIONS or lname.startswith(REFUSED_PREFIXES)):
            raise QueryRefused(
                f"refused: the function {name}() is not available in postpulse query",
                fix="query the store's tables and views, e.g. SELECT * FROM posts",
            )


def run_user_query(a: Analytics, query: str, params: dict[str, Any] | None = None):
    """Check ``query`` is read-only, then run it; errors become one-line AnalyticsErrors."""
    text = check_read_only(query)
    if not a.as_reader:
        raise QueryRefused(
            f"user SQL runs only as the read-only role {READER_ROLE}, which cannot log in to this store",
            fix="run `postpulse db upgrade` as a role that may create roles (superuser or CREATEROLE), "
            "or have an administrator create it (docs/security.md)",
        )
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
