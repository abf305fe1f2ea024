"""Which tracked posts are due, batched per platform; claiming a batch for one run.

The due-post query reads ``posts`` through the partial index on ``(platform, next_check_at)``
``WHERE tracking_complete = false`` (migration 0005; ``idx_posts_next_check`` from 0001 serves
the platform-less form).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

DEFAULT_BATCH = 500
DEFAULT_LEASE = timedelta(minutes=15)

_PLATFORMS = text("""
WITH RECURSIVE plats(platform) AS (
  (SELECT platform FROM posts WHERE tracking_complete = false AND next_check_at <= :now
   ORDER BY platform LIMIT 1)
  UNION ALL
  SELECT (SELECT p.platform FROM posts p
          WHERE p.tracking_complete = false AND p.next_check_at <= :now AND p.platform > plats.platform
          ORDER BY p.platform LIMIT 1)
  FROM plats WHERE plats.platform IS NOT NULL
)
SELECT platform FROM plats WHERE platform IS NOT NULL
""")

_DUE = text("""
SELECT id, platform, platform_post_id, url, next_check_at
FROM posts
WHERE platform = :platform AND tracking_complete = false AND next_check_at <= :now
ORDER BY next_check_at, id
LIMIT :limit
""")

_DUE_ANY = text("""
SELECT id, platform, platform_post_id, url, next_check_at
FROM posts
WHERE tracking_complete = false AND next_check_at <= :now
ORDER BY next_check_at, id
LIMIT :limit
""")

_CLAIM = text("""
UPDATE posts p SET next_check_at = :lease_until
FROM (SELECT id, next_check_at FROM posts
      WHERE platform = :platform AND tracking_complete = false AND next_check_at <= :now
      ORDER BY next_check_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) d
WHERE p.id = d.id
RETURNING p.id, d.next_check_at AS due_at
""")


def due_platforms(conn: Connection, now: datetime) -> list[str]:
    return list(conn.execute(_PLATFORMS, {"now": now}).scalars())


def due_posts(
    conn: Connection, now: datetime, *, platform: str | None = None, limit: int = DEFAULT_BATCH
) -> list[dict]:
    """The due posts (oldest due first), of one platform or of all."""
    if platform is None:
        rows = conn.execute(_DUE_ANY, {"now": now, "limit": limit})
    else:
        rows = conn.execute(_DUE, {"now": now, "platform": platform, "limit": limit})
    return [dict(r) for r in rows.mappings()]


@dataclass(frozen=True)
class Batch:
    platform: str
    post_ids: list[str]
    oldest_due: datetime

    @property
    def run_key(self) -> str:
        """Same batch, same key: a repeated tick cannot start a second run for it."""
        digest = hashlib.sha256(("\n".join([self.platform, *sorted(self.post_ids)])).encode()).hexdigest()[
            :16
        ]
        return f"checkback-{self.platform}-{self.oldest_due.strftime('%Y%m%dT%H%M%S')}-{digest}"


def claim_batches(
    conn: Connection,
    now: datetime,
    *,
    batch_size: int = DEFAULT_BATCH,
    lease: timedelta = DEFAULT_LEASE,
    platforms: list[str] | None = None,
) -> list[Batch]:
    """One batch per platform of up to ``batch_size`` due posts, leased for ``lease``: their
    ``next_check_at`` moves to ``now + lease`` so the next tick does not hand them out again
    while the run is queued; if the run never happens they are simply due again after the lease
    (nothing lost). The caller commits."""
    out: list[Batch] = []
    for platform in platforms if platforms is not None else due_platforms(conn, now):
        rows = conn.execute(
            _CLAIM, {"now": now, "platform": platform, "limit": batch_size, "lease_until": now + lease}
        ).all()
        if rows:
            out.append(Batch(platform, sorted(r.id for r in rows), min(r.due_at for r in rows)))
    return out
