"""When the store's data starts and whether today has any: what a new store's daily_metrics
partitions begin with, and when today's partition is worth computing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


def metrics_start_date(engine: Engine, today: date | None = None) -> str:
    """The first day of daily_metrics partitions for this store: the day of its first snapshot
    (UTC; the metrics time series starts there, whenever its posts were published), or today
    for an empty store; never later than today."""
    today = today or datetime.now(UTC).date()
    with engine.connect() as conn:
        first = conn.execute(text("SELECT min(downloaded_at) FROM data_downloads")).scalar()
    day = first.astimezone(UTC).date() if first is not None else today
    return min(day, today).isoformat()


def latest_snapshot_on(conn: Connection, day: date) -> datetime | None:
    """The newest snapshot taken on ``day`` (UTC), or None (index on downloaded_at)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return conn.execute(
        text(
            "SELECT max(downloaded_at) FROM data_downloads WHERE downloaded_at >= :s AND downloaded_at < :e"
        ),
        {"s": start, "e": start + timedelta(days=1)},
    ).scalar()
