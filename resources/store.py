"""The PostgreSQL store as a Dagster resource, and the one instance every area binds as ``store``."""

import dagster as dg
from sqlalchemy.engine import Engine

from postpulse.store.database import Store, store_for
from postpulse.store.urls import StoreUrls


class PostgresStore(dg.ConfigurableResource):
    """postpulse's PostgreSQL store. ``postpulse up`` sets ``DATABASE_URL`` for Dagster
    (the embedded server's URL when you did not set one). Other resources that need the store
    (DuckDB) depend on this one instead of reading ``DATABASE_URL`` themselves."""

    database_url: str

    def store(self) -> Store:
        """The store object: engine, psycopg connections, DuckDB attach string (one per URL)."""
        return store_for(self.database_url)

    @property
    def urls(self) -> StoreUrls:
        return self.store().urls

    def engine(self) -> Engine:
        return self.store().engine

    def display_url(self) -> str:
        return self.store().display_url()


# The store of every area's Definitions (the same object, so Definitions.merge accepts it):
# DATABASE_URL is named here and nowhere else in the Dagster code.
STORE = PostgresStore(database_url=dg.EnvVar("DATABASE_URL"))
