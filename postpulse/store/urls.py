"""One PostgreSQL, two drivers: psycopg 3 for postpulse, psycopg2 for dagster-postgres.

SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, on which dagster-postgres fails
(``NOTIFY run_events, %(notify_id)s``), so both URLs name their driver explicitly. Dagster's
tables live in the store's ``dagster`` schema unless ``DAGSTER_DATABASE_URL`` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

DAGSTER_SCHEMA = "dagster"


def _with_driver(url: str | URL, driver: str) -> URL:
    parsed = make_url(url) if isinstance(url, str) else url
    if not parsed.drivername.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL (scheme {parsed.drivername!r})")
    return parsed.set(drivername=f"postgresql+{driver}")


def redact(url: str | URL) -> str:
    """The URL with its password hidden, safe for logs and the UI."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def libpq_url(url: str, database: str | None = None) -> str:
    """A plain ``postgresql://`` URL for libpq clients (psycopg.connect, DuckDB ATTACH), optionally
    for another database of the same server."""
    u = make_url(url).set(drivername="postgresql")
    if database:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


@dataclass(frozen=True)
class StoreUrls:
    """The store's URLs; ``app`` for postpulse (psycopg 3), ``dagster`` for dagster-postgres."""

    app: str
    dagster: str
    embedded: bool = False

    @classmethod
    def from_base(
        cls, base: str, *, dagster_override: str | None = None, embedded: bool = False
    ) -> StoreUrls:
        app = _with_driver(base, "psycopg")
        if dagster_override:
            dag = _with_driver(dagster_override, "psycopg2")
        else:
            query = dict(app.query)
            query["options"] = f"-csearch_path={DAGSTER_SCHEMA}"
            dag = _with_driver(app.set(query=query), "psycopg2")
        return cls(
            app=app.render_as_string(hide_password=False),
            dagster=dag.render_as_string(hide_password=False),
            embedded=embedded,
        )

    @property
    def libpq(self) -> str:
        """A plain ``postgresql://`` URL for libpq clients (psycopg.connect, DuckDB ATTACH)."""
        return libpq_url(self.app)

    def display(self) -> str:
        return redact(self.app)
