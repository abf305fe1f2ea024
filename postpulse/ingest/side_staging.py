"""The staging COPY of each chunk's posts and profiles on a second connection.

An import is one transaction, so one server backend does all of its work, and that backend is
what an import waits for: the parser's thread needs much less. The COPY of a chunk's post and
profile rows (with the jsonb parse of every raw record, the largest single cost after the inserts
themselves) does not have to be in that transaction. A second, autocommit connection COPYs each
chunk into new UNLOGGED tables of the schema ``import_staging`` (migration 0008), in parallel on
the other core, while the import's transaction merges the previous chunk; the transaction then
reads the already parsed rows there, through temporary views named like its own chunk tables
(no second parse). Measured on 100,000 tweets, alternating with and without: 13.5 / 13.0 s ->
12.8 / 12.5 s end to end.

Nothing of the store is written on the side connection, so a failed or killed import still stores
nothing. Its tables are dropped when the import ends (committed or not). A killed importer's
tables are left behind; the next import drops them: each import holds an advisory lock on its
token for as long as it runs, and a token whose lock is free belongs to nobody. Before that, the
next import ends the server sessions a killed importer left running
(:mod:`postpulse.ingest.import_sessions`), which held locks on those tables; tables still locked
after ``DROP_LOCK_TIMEOUT`` are tried again when the import ends, and by the next import, and a
warning says how many are left.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import NamedTuple

import psycopg

from postpulse.ingest import import_sessions
from postpulse.ingest.staging import CHUNK_TABLES, copy_side_table, side_table_ddl

log = logging.getLogger(__name__)

SCHEMA = "import_staging"
SIDE_TABLES = tuple(CHUNK_TABLES)  # the staging tables with a per-chunk twin: stg_post, stg_profile
LOCK_CLASS = 720_008  # pg_advisory_lock(LOCK_CLASS, hashtext(token)): held while the import runs
_NAME = re.compile(r"^t([0-9a-f]{12})_\d+_[a-z_]+$")
DROP_LOCK_TIMEOUT = "5s"


class SideStagingUnavailable(Exception):
    """No second connection, or no ``import_staging`` schema: the import COPYs on its own."""


class SideStaging:
    """A second connection that COPYs chunks into ``import_staging`` tables (see the module)."""

    def __init__(self, store_url: str):
        from postpulse.store.urls import libpq_url

        self.libpq = libpq_url(store_url)
        try:
            self.conn = psycopg.connect(
                self.libpq, autocommit=True, connect_timeout=5, **import_sessions.connect_options()
            )
        except psycopg.OperationalError as exc:
            raise SideStagingUnavailable(str(exc)) from None
        try:
            for statement in import_sessions.guard_statements():
                self.conn.execute(statement)
            row = self.conn.execute(
                "SELECT has_schema_privilege(current_user, n.oid, 'CREATE') "
                "FROM pg_namespace n WHERE nspname = %s",
                (SCHEMA,),
            ).fetchone()
            if not (row and row[0]):
                raise SideStagingUnavailable(f"no schema {SCHEMA} to create tables in (migration 0008)")
            self.token = secrets.token_hex(6)
            self.conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, self.token))
            self.killed_imports = import_sessions.end_sessions_of_killed_imports(self.conn)
            self.orphans_left = drop_orphans(self.conn).left
        except BaseException:
            self.conn.close()
            raise
        self.chunks = 0

    def copy(self, tables: dict[str, list[tuple]]) -> dict[str, str]:
        """COPY the :data:`SIDE_TABLES` rows of ``tables`` into new tables, in one committed
        transaction; returns ``{staging table: side table}``."""
        self.chunks += 1
        out = {}
        with self.conn.transaction():
            for table in SIDE_TABLES:
                rows = tables.get(table)
                if not rows:
                    continue
                name = f"{SCHEMA}.t{self.token}_{self.chunks}_{table}"  # from code and a hex token
                self.conn.execute(f"CREATE UNLOGGED TABLE {name} ({side_table_ddl(table)})")
                copy_side_table(self.conn, name, table, rows)
                out[table] = name
        return out

    def close(self) -> None:
        """Drop this import's tables (call after the import's transaction has ended: it holds
        locks on the tables it read) and release the token. Without a server (it stopped during
        the import) the next import drops them."""
        if self.conn.closed or self.conn.broken:
            return
        try:
            names = [
                n
                for (n,) in self.conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                    (SCHEMA, f"t{self.token}\\_%"),
                )
            ]
            for i in range(0, len(names), 200):
                self.conn.execute(
                    "DROP TABLE IF EXISTS " + ", ".join(f"{SCHEMA}.{n}" for n in names[i : i + 200])
                )
            self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, self.token))
            if self.orphans_left:
                drop_orphans(self.conn)  # their sessions have had the whole import to end
        except psycopg.OperationalError as exc:
            log.info("staging tables of this import left for the next import to drop: %s", exc)
        finally:
            self.conn.close()


class Orphans(NamedTuple):
    dropped: int
    left: int  # still locked by a session that has not ended yet


def drop_orphans(conn: psycopg.Connection) -> Orphans:
    """Drop the ``import_staging`` tables of imports that no longer run; says so in a warning
    (and how many are still locked, to be tried again)."""
    names = [n for (n,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,))]
    by_token: dict[str, list[str]] = {}
    for n in names:
        m = _NAME.match(n)
        if m:
            by_token.setdefault(m.group(1), []).append(n)
    dropped = left = 0
    for token, tables in by_token.items():
        (free,) = conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, token)
        ).fetchone()
        if not free:
            continue  # that import is still running
        try:
            with conn.transaction():
                # a dying session's locks: tried again later rather than waited for
                conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
                conn.execute("DROP TABLE IF EXISTS " + ", ".join(f"{SCHEMA}.{t}" for t in tables))
            dropped += len(tables)
        except psycopg.errors.LockNotAvailable:
            left += len(tables)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, token))
    if dropped:
        log.warning("dropped %d staging table(s) left by killed imports", dropped)
    if left:
        log.warning(
            "%d staging table(s) left by killed imports are still locked; the end of this import "
            "and the next import try again",
            left,
        )
    return Orphans(dropped, left)
