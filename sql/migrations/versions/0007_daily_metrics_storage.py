"""daily_metrics stored one table per UTC day, replaced by a swap instead of DELETE + COPY.

``daily_metrics`` stays the one table users query (same columns, constraints and primary key),
but it holds no rows itself: every day lives in a child table ``daily_metrics_days.dYYYYMMDD``
(PostgreSQL table inheritance, ``CHECK (metric_date = day)``), which a query of
``daily_metrics`` reads together with it; a filter on ``metric_date`` skips the other days'
tables (constraint exclusion). ``postpulse.analytics.daily`` re-materializes a day by loading a
new unindexed child with COPY, building its primary key after the load, then dropping the old
child and renaming the new one, all in one transaction under an advisory lock: readers see
either the old or the new rows, a failure leaves the old ones, and nothing is ever DELETEd (no
dead rows, no index maintenance per row). Measured on 838,926 rows (30 days at 1 M snapshots,
same busy machine): the old DELETE + COPY into the indexed table took 36.2 s, COPY into a fresh
table 9.4 s plus 3.3 s for the primary key; at 10 M snapshots the 30-day backfill's write went from
354 s to 37-46 s (benchmarks/README.md).

Why inheritance and not ``PARTITION BY RANGE``: DuckDB's postgres extension (1.4.4), which
every analytics query goes through, splits a scan into ``ctid`` ranges by the table's
``relpages``. A partitioned table reports ``relpages = -1`` and the scan turns into billions of
empty ranges (it never finishes); the parent of an inheritance tree is a plain table with 0
pages, which DuckDB reads in one scan that includes the children. The parent must never hold
rows of its own, or DuckDB would split by the parent's pages and miss child rows: the
``CHECK (false) NO INHERIT`` constraint ``daily_metrics_rows_live_in_days`` refuses them
(writes go through the pipeline; ``INSERT INTO daily_metrics`` by hand is refused).

The two secondary indexes (``idx_daily_metrics_grain_entity``, ``idx_daily_metrics_platform``)
are gone: no query filters on ``platform``, and within one day's table the primary key
``(metric_date, grain, entity_id)`` serves the ``grain`` / ``entity_id`` filters of
``anomalies``, ``engagement_rate_over_time``, the HTML report and the daily asset.

Downgrade puts every row back into one plain table with the 0003 indexes.

Revision ID: 0007_daily_metrics_storage
Revises: 0006_posts_fillfactor
"""

from datetime import date

from alembic import op
from sqlalchemy import text

revision = "0007_daily_metrics_storage"
down_revision = "0006_posts_fillfactor"
branch_labels = None
depends_on = None

DAYS_SCHEMA = "daily_metrics_days"
KEY = "metric_date, grain, entity_id"


def _day_table(conn, day: date) -> None:
    """Create the child table of one day (as the writer in postpulse.analytics.daily does)."""
    name = f"d{day:%Y%m%d}"  # from a date value, not from input
    conn.execute(
        text(
            f"CREATE TABLE {DAYS_SCHEMA}.{name} (CONSTRAINT one_day CHECK (metric_date = DATE "
            f"'{day.isoformat()}')) "
            "INHERITS (daily_metrics)"
        )
    )
    conn.execute(
        text(
            f"INSERT INTO {DAYS_SCHEMA}.{name} SELECT * FROM daily_metrics_0006 "
            f"WHERE metric_date = DATE '{day.isoformat()}'"
        )
    )
    conn.execute(text(f"ALTER TABLE {DAYS_SCHEMA}.{name} ADD CONSTRAINT {name}_pkey PRIMARY KEY ({KEY})"))


def upgrade() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE daily_metrics RENAME TO daily_metrics_0006")
    op.execute("ALTER INDEX daily_metrics_pkey RENAME TO daily_metrics_0006_pkey")
    # a fresh parent (0 pages, see above) with the same columns, defaults, CHECKs and key
    op.execute(
        "CREATE TABLE daily_metrics (LIKE daily_metrics_0006 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    op.execute(f"ALTER TABLE daily_metrics ADD CONSTRAINT daily_metrics_pkey PRIMARY KEY ({KEY})")
    op.execute(
        "ALTER TABLE daily_metrics ADD CONSTRAINT daily_metrics_rows_live_in_days CHECK (false) NO INHERIT"
    )
    op.execute(
        "COMMENT ON TABLE daily_metrics IS 'Daily metrics; the rows live in one table per UTC day, "
        "daily_metrics_days.dYYYYMMDD (inherited: a query of daily_metrics reads them all)'"
    )
    op.execute(f"CREATE SCHEMA {DAYS_SCHEMA}")
    days = (
        conn.execute(text("SELECT DISTINCT metric_date FROM daily_metrics_0006 ORDER BY 1")).scalars().all()
    )
    for day in days:
        _day_table(conn, day)
    op.execute("DROP TABLE daily_metrics_0006")  # its indexes go with it


def downgrade() -> None:
    op.execute("ALTER TABLE daily_metrics RENAME TO daily_metrics_0007")
    op.execute("ALTER INDEX daily_metrics_pkey RENAME TO daily_metrics_0007_pkey")
    op.execute(
        "CREATE TABLE daily_metrics (LIKE daily_metrics_0007 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    op.execute("ALTER TABLE daily_metrics DROP CONSTRAINT IF EXISTS daily_metrics_rows_live_in_days")
    op.execute("INSERT INTO daily_metrics SELECT * FROM daily_metrics_0007")  # the parent reads every day
    op.execute(f"ALTER TABLE daily_metrics ADD CONSTRAINT daily_metrics_pkey PRIMARY KEY ({KEY})")
    op.execute("CREATE INDEX idx_daily_metrics_grain_entity ON daily_metrics (grain, entity_id, metric_date)")
    op.execute("CREATE INDEX idx_daily_metrics_platform ON daily_metrics (platform, metric_date)")
    op.execute("DROP TABLE daily_metrics_0007 CASCADE")  # and the day tables
    op.execute(f"DROP SCHEMA {DAYS_SCHEMA} CASCADE")
