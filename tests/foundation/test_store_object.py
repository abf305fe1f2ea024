"""The store in one object: an engine, psycopg connections and the DuckDB attach string, from one
URL; the Dagster resources hand it out, and DuckDB depends on the store resource."""

from sqlalchemy import text
from sqlalchemy.engine import make_url

from postpulse.store import Store, make_engine, store_for
from resources.duckdb import DuckDBAnalytics
from resources.store import PostgresStore


def test_one_store_hands_out_engine_connection_and_attach_string(db_url):
    store = Store.from_url(db_url)
    database = make_url(db_url).database
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT current_database()")).scalar() == database
    with store.connect(autocommit=True) as conn:
        assert conn.autocommit
        assert conn.execute("SELECT current_database()").fetchone()[0] == database
    assert make_url(store.duckdb_attach).drivername == "postgresql"  # libpq's form, no driver
    assert make_url(store.duckdb_attach).database == database
    store.dispose()


def test_an_engine_leads_back_to_its_store_without_its_url(db_url):
    engine = make_engine(db_url)
    try:
        found = Store.of(engine)
        assert found.engine is engine
        assert found.urls == Store.from_url(db_url).urls
    finally:
        engine.dispose()


def test_the_password_is_never_displayed():
    store = Store.from_url("postgresql://app:s3cret-pw@db.example:5432/postpulse")
    assert "s3cret-pw" not in store.display_url() and "db.example" in store.display_url()
    assert "s3cret-pw" not in repr(store.urls.display())


def test_duckdb_reads_the_store_of_the_store_resource(db_url, engine):
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO posts (id, platform, platform_post_id) VALUES ('p-00000001', 'x', '1')")
        )
    store = PostgresStore(database_url=db_url)
    assert store.store() is store_for(db_url) and store.engine() is store.store().engine
    duck = DuckDBAnalytics(store=store)
    with duck.session() as analytics:
        assert analytics.sql("SELECT count(*) AS n FROM pg.public.posts").iloc[0]["n"] == 1
