"""Time helpers shared by every area."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(dt: datetime | None) -> datetime | None:
    """``dt`` as an aware UTC datetime (a naive one is taken to be UTC); ``None`` stays ``None``."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
