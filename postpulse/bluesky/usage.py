"""``api_usage`` rows for Bluesky calls (provider ``bluesky``), rate-limit headers included."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.ids import allocate_ids, retry_on_id_collision

from .appview import Call

PROVIDER = "bluesky"

_INSERT = text(
    "INSERT INTO api_usage (id, provider, endpoint, run_id, status_code, items, duration_ms, called_at, "
    "ratelimit_limit, ratelimit_remaining, ratelimit_reset_at) VALUES (:id, :provider, :endpoint, :run_id, "
    ":status, :items, :ms, :at, :rl, :rr, :reset)"
)


def record_calls(conn: Connection, calls: Iterable[Call], run_id: str | None) -> int:
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
                    "provider": PROVIDER,
                    "endpoint": c.endpoint,
                    "run_id": run_id,
                    "status": c.status,
                    "items": c.items,
                    "ms": c.duration_ms,
                    "at": c.called_at,
                    "rl": c.ratelimit_limit,
                    "rr": c.ratelimit_remaining,
                    "reset": c.ratelimit_reset_at,
                }
                for row_id, c in zip(ids, rows, strict=True)
            ],
        )
        return len(rows)

    return retry_on_id_collision(conn, "api_usage", attempt)
