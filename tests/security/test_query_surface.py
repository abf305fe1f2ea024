"""The read-only query surface: a corpus of escape attempts through `postpulse query`, and the
read-only role the analytics log in as, checked directly in PostgreSQL."""

from __future__ import annotations

import secrets
import socket

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from postpulse.analytics.duck import libpq_conninfo, open_analytics, run_user_query
from postpulse.analytics.errors import AnalyticsError
from postpulse.analytics.reader_role import READER_ROLE, reader_password
from postpulse.store.urls import libpq_url

FILE_CANARY = "CANARY-FILE-" + secrets.token_hex(4)
DB_CANARY = "CANARY-OTHER-DB-" + secrets.token_hex(4)


@pytest.fixture
def other_db(pg_server_url):
    """Another database on the same server holding a canary value."""
    name = f"pp_canary_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(libpq_url(pg_server_url, name), autocommit=True) as conn:
        conn.execute("CREATE TABLE secret (value text)")
        conn.execute("INSERT INTO secret VALUES (%s)", (DB_CANARY,))
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 that records whether anything connected to it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    yield s.getsockname()[1], s
    s.close()


def _corpus(conninfo: str, other: str, port: int, canary_file: str) -> list[str]:
    p = conninfo_to_dict(conninfo)
    host = p.get("host", "127.0.0.1")
    other_dsn = make_conninfo(**{**p, "dbname": other, "user": "postgres"})
    super_dsn = make_conninfo(**{**p, "user": "postgres"})
    net_dsn = f"host=127.0.0.1 port={port} dbname=postgres user=postgres connect_timeout=2"
    pg_payloads = [
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT pg_read_file('pg_hba.conf')",
        "SELECT pg_read_binary_file('/etc/passwd')",
        "SELECT * FROM pg_ls_dir('.')",
        "SELECT pg_stat_file('/etc/passwd')",
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
        "SELECT pg_reload_conf()",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT rolname, rolpassword FROM pg_authid",
        "SELECT lo_import('/etc/passwd')",
        "SELECT current_setting('data_directory')",
        "SELECT * FROM secret",
        "INSERT INTO posts (id, platform, platform_post_id) VALUES ('p-00000bad', 'x', 'bad')",
        "DELETE FROM posts",
        "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'",
        "CREATE TABLE pwned (a int)",
        "SELECT pg_sleep(0)",
    ]
    c = []
    for payload in pg_payloads:
        lit = payload.replace("'", "''")
        c += [
            f"SELECT * FROM postgres_query('pg', '{lit}')",
            f"SELECT * FROM system.main.postgres_query('pg', '{lit}')",
            f"WITH x AS (SELECT * FROM postgres_query('pg', '{lit}')) SELECT * FROM x",
            f"SELECT (SELECT count(*) FROM postgres_query('pg', '{lit}')) AS n FROM posts",
        ]
    c += [
        f"SELECT * FROM postgres_scan('{other_dsn}', 'public', 'secret')",
        f"SELECT * FROM postgres_scan('{super_dsn}', 'pg_catalog', 'pg_authid')",
        f"SELECT * FROM postgres_scan('dbname=postgres host={host}', 'pg_catalog', 'pg_authid')",
        f"SELECT * FROM postgres_scan('{net_dsn}', 'public', 'x')",
        f"SELECT * FROM postgres_scan_pushdown('{other_dsn}', 'public', 'secret')",
        f"SELECT * FROM postgres_attach('{other_dsn}')",
        "SELECT * FROM postgres_execute('pg', 'DELETE FROM posts')",
        f"SELECT * FROM query('SELECT * FROM postgres_scan(''{other_dsn}'', ''public'', ''secret'')')",
        "SELECT * FROM query_table('posts')",
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 42'))",
        f"SELECT * FROM read_csv('{canary_file}')",
        f"SELECT * FROM read_csv_auto('{canary_file}')",
        f"SELECT * FROM read_text('{canary_file}')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/passwd')",
        f"SELECT * FROM read_parquet('{canary_file}')",
        f"SELECT * FROM parquet_scan('{canary_file}')",
        f"SELECT * FROM parquet_metadata('{canary_file}')",
        f"SELECT * FROM read_json('{canary_file}')",
        f"SELECT * FROM read_json_auto('{canary_file}')",
        f"SELECT * FROM read_ndjson('{canary_file}')",
        f"SELECT * FROM sniff_csv('{canary_file}')",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM '{canary_file}'",
        "SELECT * FROM '/etc/passwd'",
        f"SELECT * FROM read_csv('http://127.0.0.1:{port}/x.csv')",
        f"SELECT * FROM 'http://127.0.0.1:{port}/x.parquet'",
        "SELECT getenv('DATABASE_URL')",
        "SELECT getenv('HOME')",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM duckdb_secrets(redact=false)",
        "SELECT * FROM pragma_database_list()",
        "SELECT * FROM duckdb_databases()",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM duckdb_extensions()",
        "SELECT * FROM which_secret('x', 'postgres')",
        "SELECT * FROM pg.pg_catalog.pg_authid",
        "SELECT * FROM pg.information_schema.tables",
        "PRAGMA database_list",
        "PRAGMA show_tables",
        "IMPORT DATABASE '/tmp'",
        "EXPORT DATABASE '/tmp/pp_export'",
        "COPY posts TO '/tmp/pp_posts.csv'",
        f"COPY posts FROM '{canary_file}'",
        "COPY (SELECT 1) TO '/tmp/pp_one.csv'",
        f"ATTACH '{other_dsn}' AS other (TYPE postgres)",
        f"ATTACH '{net_dsn}' AS net (TYPE postgres)",
        "ATTACH '/tmp/pp.duckdb' AS f",
        "DETACH pg",
        "USE pg",
        "INSTALL httpfs",
        "LOAD httpfs",
        "FORCE INSTALL postgres",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET enable_external_access",
        "SET GLOBAL allow_unredacted_secrets = true",
        "CALL postgres_execute('pg', 'DELETE FROM posts')",
        "CREATE SECRET s (TYPE postgres, HOST 'x')",
        "CREATE TABLE pg.public.pwned (a int)",
        "CREATE MACRO x() AS 1",
        "CREATE VIEW v AS SELECT 1",
        "INSERT INTO pg.public.posts (id, platform, platform_post_id) VALUES ('p-00000bad', 'x', 'bad')",
        "INSERT INTO posts (id, platform, platform_post_id) VALUES ('p-00000bad', 'x', 'bad')",
        "UPDATE pg.public.posts SET text_content = 'pwned'",
        "DELETE FROM pg.public.posts",
        "DROP VIEW posts",
        "DROP TABLE pg.public.posts",
        "ALTER TABLE pg.public.posts ADD COLUMN pwned int",
        "TRUNCATE pg.public.posts",
        "VACUUM",
        "CHECKPOINT",
        "BEGIN",
        "SELECT 1; DELETE FROM pg.public.posts",
        "EXPLAIN ANALYZE DELETE FROM pg.public.posts",
        "SUMMARIZE SELECT * FROM read_text('/etc/passwd')",
        "DESCRIBE SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM (SELECT * FROM read_text('/etc/passwd')) t",
        "SELECT * FROM posts, LATERAL (SELECT * FROM read_text('/etc/passwd')) t",
        "SELECT * FROM posts WHERE id IN (SELECT content FROM read_text('/etc/passwd'))",
        "SELECT (SELECT content FROM read_text('/etc/passwd'))",
        "SELECT * FROM posts UNION ALL SELECT * FROM read_csv('/etc/passwd')",
        "FROM read_text('/etc/passwd')",
        "SELECT * FROM range(3) r, read_text('/etc/passwd') t",
    ]
    return c


def _store_fingerprint(db_url: str) -> tuple:
    with psycopg.connect(libpq_url(db_url)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        counts = tuple(
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
            for t in tables
        )
        posts = conn.execute("SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM posts p").fetchone()[0]
        roles = conn.execute("SELECT count(*) FROM pg_roles").fetchone()[0]
    return tuple(tables), counts, posts, roles


def test_escape_corpus(db_url, pg_server_url, other_db, listener, tmp_path):
    from postpulse.analytics import synthetic

    dim = synthetic.add_dimension(db_url)
    synthetic.add_posts(
        db_url, [{"platform": "instagram", "account_id": dim["account"], "text_content": "hi"}]
    )
    canary_file = tmp_path / "canary.csv"
    canary_file.write_text(f"value\n{FILE_CANARY}\n")
    port, sock = listener
    corpus = _corpus(libpq_conninfo(db_url), other_db, port, str(canary_file))
    assert len(corpus) >= 100
    before = _store_fingerprint(db_url)
    ran = []
    with open_analytics(db_url) as a:
        assert a.as_reader
        for q in corpus:
            try:
                out = run_user_query(a, q).to_string()
                ran.append(q)
            except AnalyticsError as exc:
                out = str(exc)
            assert FILE_CANARY not in out and DB_CANARY not in out, q
            assert "root:x:0" not in out and "SCRAM-SHA-256$" not in out, q
        # the session still works, and is still locked down
        assert run_user_query(a, "SELECT count(*) AS n FROM posts")["n"][0] == 1
        assert a.sql("SELECT current_setting('enable_external_access') AS v")["v"][0] in (False, "false")
    # the few that ran are harmless catalog reads
    assert set(ran) <= {
        "SELECT * FROM duckdb_databases()",
        "SELECT * FROM pg.information_schema.tables",
    }, ran
    assert _store_fingerprint(db_url) == before
    with pytest.raises(BlockingIOError):
        sock.accept()  # nothing connected to the network canary
    assert not (tmp_path.parent / "pwned").exists()


def test_connection_string_is_not_shown(db_url):
    with open_analytics(db_url) as a:
        paths = a.sql("SELECT path FROM duckdb_databases() WHERE database_name = 'pg'")["path"].tolist()
        secrets_shown = a.sql("SELECT secret_string FROM duckdb_secrets()")["secret_string"].tolist()
    params = conninfo_to_dict(libpq_conninfo(db_url))
    assert paths == [""] or all(params["dbname"] not in p and "user=" not in p for p in paths)
    assert all("password=redacted" in s or "password" not in s for s in secrets_shown)


def _reader_conn(db_url: str) -> psycopg.Connection:
    params = conninfo_to_dict(libpq_conninfo(db_url))
    params.update(user=READER_ROLE, password=reader_password(params.get("password")))
    return psycopg.connect(make_conninfo(**{k: v for k, v in params.items() if v}), autocommit=True)


def test_the_reader_role_can_only_read_the_store(db_url, other_db, pg_server_url):
    with _reader_conn(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM daily_metrics").fetchone()[0] == 0
        su, create_role, create_db = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert (su, create_role, create_db) == (False, False, False)
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        for role in (
            "pg_read_server_files",
            "pg_write_server_files",
            "pg_execute_server_program",
            "pg_signal_backend",
        ):
            assert (
                conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (role,)).fetchone()[0] is False
            )
        # secret columns are withheld even as ciphertext or hash; the rest of the table is readable
        assert conn.execute("SELECT count(username) FROM accounts").fetchone()[0] == 0
        assert conn.execute("SELECT count(username) FROM console_users").fetchone()[0] >= 0
        denied = [
            "SELECT session_encrypted FROM accounts",
            "SELECT * FROM accounts",
            "SELECT content_encrypted FROM dm_messages",
            "SELECT password_hash FROM console_users",
            "SELECT * FROM vault_secrets",
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT * FROM pg_ls_dir('.')",
            "SELECT pg_reload_conf()",
            "SELECT rolpassword FROM pg_authid",
            "SELECT lo_import('/etc/passwd')",
            "INSERT INTO posts (id, platform, platform_post_id) VALUES ('p-00000bad', 'x', 'bad')",
        ]
        for q in denied:
            with pytest.raises(psycopg.Error):
                conn.execute(q)
        # even with read-only switched off for the session, it holds no write privilege
        conn.execute("SET default_transaction_read_only = off")
        for q in (
            "INSERT INTO posts (id, platform, platform_post_id) VALUES ('p-00000bad', 'x', 'bad')",
            "UPDATE accounts SET username = 'x'",
            "DELETE FROM data_downloads",
            "CREATE TABLE public.pwned (a int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(q)


def test_user_sql_is_refused_without_the_reader_role(db_url):
    with open_analytics(db_url, reader_role="pp_no_such_role") as a:
        assert not a.as_reader
        assert a.sql("SELECT count(*) AS n FROM posts")["n"][0] == 0  # the pipeline's own reads work
        with pytest.raises(AnalyticsError, match="read-only role postpulse_reader"):
            run_user_query(a, "SELECT count(*) FROM posts")


def test_reader_role_without_createrole_says_so(db_url, pg_server_url):
    from sqlalchemy import create_engine

    from postpulse.analytics.reader_role import ensure_reader_role, refresh_reader_role

    assert refresh_reader_role(db_url) is None  # a superuser store role: created and granted
    weak = f"pp_weak_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(weak)))
    url = make_conninfo(**{**conninfo_to_dict(libpq_conninfo(db_url)), "user": weak})
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url))
    try:
        with engine.begin() as conn:
            note = ensure_reader_role(conn, None, role=f"pp_missing_{secrets.token_hex(4)}")
            assert "cannot create the read-only role" in note and "CREATEROLE" in note
            # the role exists but this one owns nothing: it says so instead of failing
            note = ensure_reader_role(conn, None)
            assert note is not None and "could not grant" in note
    finally:
        engine.dispose()
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(weak)))
