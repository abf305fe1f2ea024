"""The PostgreSQL store as a Dagster resource."""

import dagster as dg
from sqlalchemy.engine import Engine

from postpulse.store.database import engine_for
from postpulse.store.urls import StoreUrls


class PostgresStore(dg.ConfigurableResource):
    """postpulse's PostgreSQL store. ``postpulse up`` sets ``DATABASE_URL`` for Dagster
    (the embedded server's URL when you did not set one)."""

    database_url: str

    @property
    def urls(self) -> StoreUrls:
        return StoreUrls.from_base(self.database_url)

    def engine(self) -> Engine:
        return engine_for(self.urls.app)

    def display_url(self) -> str:
        return self.urls.display()
