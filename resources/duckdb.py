"""DuckDB over the store as a Dagster resource (``DuckDBAnalytics``).

An in-memory DuckDB per use, the postgres extension loaded offline from the pinned
``duckdb-ext-postgres`` wheel, the store ATTACHed READ_ONLY as ``pg``. The core lives in
``postpulse.analytics.duck`` (no dagster there).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from postpulse.analytics.daily import DEFAULT_MAX_GAP_DAYS
from postpulse.analytics.duck import Analytics, open_analytics
from resources.store import PostgresStore


class DuckDBAnalytics(dg.ConfigurableResource):
    """DuckDB reading the PostgreSQL store read-only (``ATTACH ... (TYPE postgres, READ_ONLY)``);
    the store comes from the ``PostgresStore`` resource it depends on."""

    store: PostgresStore
    threads: int | None = None
    memory_limit: str | None = None
    # snapshot pairs further apart than this are not spread over days (see postpulse.analytics.daily)
    max_gap_days: int = DEFAULT_MAX_GAP_DAYS

    def open(self) -> Analytics:
        return open_analytics(
            self.store.store().duckdb_attach, threads=self.threads, memory_limit=self.memory_limit
        )

    @contextmanager
    def session(self) -> Iterator[Analytics]:
        a = self.open()
        try:
            yield a
        finally:
            a.close()
