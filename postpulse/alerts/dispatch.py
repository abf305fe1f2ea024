"""Recording alerts (once per key) and delivering them (once per channel).

``record`` inserts new alerts; a key already in ``alerts`` is skipped, so a condition that lasts
(an account frozen for a day) alerts once. ``deliver_pending`` sends every alert not yet sent to
each channel that has not had it; a channel that fails is tried again at the next call, up to
``MAX_ATTEMPTS`` times, without resending to the channels that got it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.ids import allocate_ids, retry_on_id_collision

from .channels import Channel, ChannelError
from .model import Alert

MAX_ATTEMPTS = 5

_INSERT = text(
    "INSERT INTO alerts (id, dedup_key, kind, severity, title, body, link, workspace_id, account_id, "
    "details, created_at) "
    "VALUES (:id, :key, :kind, :sev, :title, :body, :link, :w, :a, CAST(:d AS jsonb), :now) "
    "ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
)


def record(conn: Connection, alerts: Iterable[Alert], now: datetime | None = None) -> list[str]:
    """Insert the alerts whose keys are new; returns the new rows' ids."""
    now = now or datetime.now(UTC)
    new: list[str] = []
    for a in alerts:

        def attempt(a: Alert = a) -> str | None:
            (aid,) = allocate_ids(conn, "alerts", 1)
            return conn.execute(
                _INSERT,
                {
                    "id": aid,
                    "key": a.dedup_key[:500],
                    "kind": a.kind,
                    "sev": a.severity,
                    "title": a.title[:500],
                    "body": a.body,
                    "link": a.link,
                    "w": a.workspace_id,
                    "a": a.account_id,
                    "d": json.dumps(a.details, default=str),
                    "now": now,
                },
            ).scalar()

        aid = retry_on_id_collision(conn, "alerts", attempt)
        if aid:
            new.append(aid)
    return new


def _alert_of(row) -> Alert:
    return Alert(
        row["kind"],
        row["dedup_key"],
        row["title"],
        row["body"],
        row["severity"],
        row["link"],
        row["workspace_id"],
        row["account_id"],
        dict(row["details"] or {}),
    )


def deliver_pending(engine: Engine, channels: list[Channel], now: datetime | None = None) -> dict[str, int]:
    """Send unsent alerts; returns counts ``{"sent": alerts fully sent, "failed": channel errors}``."""
    now = now or datetime.now(UTC)
    counts = {"sent": 0, "failed": 0}
    if not channels:
        return counts
    with engine.begin() as conn:
        # one deliverer at a time per alert: rows locked until their outcome is recorded
        rows = (
            conn.execute(
                text(
                    "SELECT * FROM alerts WHERE sent_at IS NULL AND attempts < :max ORDER BY created_at, id "
                    "FOR UPDATE SKIP LOCKED LIMIT 100"
                ),
                {"max": MAX_ATTEMPTS},
            )
            .mappings()
            .all()
        )
        for row in rows:
            alert = _alert_of(row)
            deliveries = dict(row["deliveries"] or {})
            for ch in channels:
                if deliveries.get(ch.name, {}).get("ok"):
                    continue
                try:
                    ch.send(alert)
                    deliveries[ch.name] = {"ok": True, "at": now.isoformat()}
                except ChannelError as exc:
                    deliveries[ch.name] = {"ok": False, "at": now.isoformat(), "error": str(exc)[:300]}
                    counts["failed"] += 1
            done = all(deliveries.get(ch.name, {}).get("ok") for ch in channels)
            conn.execute(
                text(
                    "UPDATE alerts SET deliveries = CAST(:d AS jsonb), attempts = attempts + 1, "
                    "sent_at = CASE WHEN :done THEN CAST(:now AS timestamptz) ELSE NULL END WHERE id = :id"
                ),
                {"d": json.dumps(deliveries), "done": done, "now": now, "id": row["id"]},
            )
            counts["sent"] += int(done)
    return counts
