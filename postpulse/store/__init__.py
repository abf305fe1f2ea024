"""The PostgreSQL store: URL resolution, the embedded server, engines and migrations."""

from postpulse.store.database import Store, connect_store, make_engine, store_for
from postpulse.store.urls import StoreUrls

__all__ = ["Store", "StoreUrls", "connect_store", "make_engine", "store_for"]
