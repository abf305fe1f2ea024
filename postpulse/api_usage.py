"""One call to an outside API (official platform APIs, Bluesky's services) and the
``api_usage`` rows that record them: endpoint, status, items, quota units, rate limit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.ids import allocate_ids, retry_on_id_collision


@dataclass
class Call:
    endpoint: str
    status: int | None
    duration_ms: int
    called_at: datetime
    items: int | None = None
    quota_units: int | None = None
    ratelimit_limit: int | None = None
    ratelimit_remaining: int | None = None
    ratelimit_reset_at: datetime | None = None
    estimated_cost: float | None = None


def header_int(headers, name: str) -> int | None:
    """A rate-limit header's integer value (None: absent or not a number)."""
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


_INSERT = text(
    "INSERT INTO api_usage (id, provider, endpoint, run_id, account_id, watch_source_id, status_code, items, "
    "duration_ms, called_at, quota_units, ratelimit_limit, ratelimit_remaining, ratelimit_reset_at, "
    "estimated_cost) VALUES (:id, :provider, :endpoint, :run_id, :account_id, :watch_source_id, :status, "
    ":items, :ms, :at, :units, :rl, :rr, :reset, :cost)"
)


def record_calls(
    conn: Connection,
    provider: str,
    calls: Iterable[Call],
    *,
    run_id: str | None = None,
    account_id: str | None = None,
    watch_source_id: str | None = None,
) -> int:
    rows = list(calls)
    if not rows:
        return 0

    def attempt() -> int:
        ids = allocate_ids(conn, "api_usage", len(rows))
        conn.execute(
            _INSERT,
            [
                {
                    "id": row_id,
                    "provider": provider,
                    "endpoint": c.endpoint,
                    "run_id": run_id,
                    "account_id": account_id,
                    "watch_source_id": watch_source_id,
                    "status": c.status,
                    "items": c.items,
                    "ms": c.duration_ms,
                    "at": c.called_at,
                    "units": c.quota_units,
                    "rl": c.ratelimit_limit,
                    "rr": c.ratelimit_remaining,
                    "reset": c.ratelimit_reset_at,
                    "cost": c.estimated_cost,
                }
                for row_id, c in zip(ids, rows, strict=True)
            ],
        )
        return len(rows)

    return retry_on_id_collision(conn, "api_usage", attempt)
