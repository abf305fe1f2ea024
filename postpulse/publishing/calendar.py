"""The content calendar: what is planned and what went out, per publication, and its iCalendar
export (one event per publication, stable UIDs so calendar apps update rather than duplicate)."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import text
from sqlalchemy.engine import Connection

from .items import resolve_workspace

EVENT_LENGTH = timedelta(minutes=15)

_ENTRIES = text("""
SELECT p.id AS publication_id, p.content_item_id, coalesce(p.published_at, p.scheduled_for) AS at,
       p.scheduled_for, p.published_at, p.status, p.content, p.platform_post_url AS url, p.error_message,
       a.platform, a.username, c.title, c.workspace_id, w.name AS workspace
FROM publications p
JOIN accounts a ON a.id = p.account_id
JOIN content_items c ON c.id = p.content_item_id
JOIN workspaces w ON w.id = c.workspace_id
WHERE p.status <> 'cancelled' AND (CAST(:w AS text[]) IS NULL OR c.workspace_id = ANY(CAST(:w AS text[])))
  AND coalesce(p.published_at, p.scheduled_for) >= :start AND coalesce(p.published_at, p.scheduled_for) < :end
ORDER BY at, a.platform, a.username
""")


def calendar_entries(
    conn: Connection,
    start: datetime,
    end: datetime,
    *,
    workspace: str | None = None,
    workspace_ids: list[str] | None = None,
) -> list[dict]:
    """The publications from ``start`` up to ``end``: of one workspace (its name or id), of the
    workspaces ``workspace_ids``, or of all."""
    if workspace:
        workspace_ids = [resolve_workspace(conn, workspace)]
    rows = conn.execute(_ENTRIES, {"w": workspace_ids, "start": start, "end": end}).mappings()
    return [dict(r) for r in rows]


def excerpt(value: str | None, width: int = 40) -> str:
    one = " ".join((value or "").split())
    return one if len(one) <= width else one[: width - 1] + "…"


def to_ics(entries: list[dict], *, name: str = "postpulse content calendar") -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//postpulse//content calendar//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    for e in entries:
        ev = Event()
        ev.add("uid", f"{e['publication_id']}@postpulse")
        ev.add("dtstamp", e["at"])
        ev.add("dtstart", e["at"])
        ev.add("dtend", e["at"] + EVENT_LENGTH)
        ev.add("summary", f"{e['platform']} @{e['username']}: {e['title'] or excerpt(e['content'])}")
        lines = [e["content"] or "", "", f"status: {e['status']}", f"item: {e['content_item_id']}"]
        if e["url"]:
            lines.append(f"post: {e['url']}")
            ev.add("url", e["url"])
        if e["error_message"]:
            lines.append(f"error: {e['error_message']}")
        ev.add("description", "\n".join(lines))
        ev.add("status", "CONFIRMED" if e["status"] == "published" else "TENTATIVE")
        ev.add("categories", [e["platform"], e["status"]])
        cal.add_component(ev)
    return cal.to_ical()
