"""``postpulse track`` / ``untrack`` / ``tracking``: start, stop and list check-back tracking."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.checkbacks.schedule import offsets_seconds, parse_schedule, resolve_schedule, slot_state
from postpulse.errors import PostpulseError
from postpulse.timeutil import as_utc


class TrackError(PostpulseError):
    pass


_FIND = text("""
SELECT p.id, p.platform, p.platform_post_id, p.url, p.posted_at, p.tracking_started_at, p.check_schedule,
       p.is_deleted, a.settings AS account_settings
FROM posts p LEFT JOIN accounts a ON a.id = p.account_id
WHERE p.id = :x OR p.url = :x OR p.url = :x2 OR p.url = :x3 OR p.full_urn = :x
ORDER BY p.id LIMIT 1
""")


def find_post(conn: Connection, ref: str) -> dict | None:
    ref = ref.strip()
    x2 = ref.rstrip("/")
    row = conn.execute(_FIND, {"x": ref, "x2": x2, "x3": x2 + "/"}).mappings().first()
    return dict(row) if row else None


def _fetch_sandbox_item(url: str, sandbox_url: str) -> tuple[str, dict]:
    """The scraper item of a sandbox post page URL, via the sandbox's JSON API."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if not parts:
        raise TrackError(f"{url} is not a post URL")
    platform = parts[0]
    candidates = [
        p
        for p in reversed(parts[1:])
        if p not in ("p", "reel", "video", "post", "status", "posts", "feed", "update")
    ]
    with httpx.Client(base_url=sandbox_url.rstrip("/"), timeout=15) as client:
        for ident in candidates:
            ident = ident.lstrip("@")
            if "activity-" in ident:
                import re

                m = re.search(r"activity-(\d+)-", ident)
                ident = m.group(1) if m else ident
            resp = client.get(f"/api/{quote(platform, safe='')}/posts/{quote(ident, safe=':')}")
            item = resp.json() if resp.status_code == 200 else None
            if isinstance(item, dict):
                return platform, item
    raise TrackError(f"the sandbox has no post at {url}", fix="open the post in the sandbox and copy its URL")


def track_post(
    engine: Engine,
    ref: str,
    *,
    schedule: str | list[str] | None = None,
    now: datetime | None = None,
    sandbox_url: str | None = None,
) -> dict:
    """Start (or restart) tracking a post given by its URL, post id (``p-…``) or URN.

    A post not in the store yet is fetched first when its URL is on the sandbox."""
    now = as_utc(now) or datetime.now(UTC)
    sched = parse_schedule(schedule) if schedule else None
    sandbox_url = sandbox_url or os.environ.get("POSTPULSE_SANDBOX_URL")
    with engine.connect() as conn:
        post = find_post(conn, ref)
    if post is None:
        if not (
            ref.startswith("http") and sandbox_url and urlsplit(ref).netloc == urlsplit(sandbox_url).netloc
        ):
            raise TrackError(
                f"no post {ref!r} in the store",
                fix="import a file that contains it first (postpulse import), or give a sandbox post URL",
            )
        from postpulse.ingest import iter_file
        from postpulse.ingest.loader import RunSource, load_records

        platform, item = _fetch_sandbox_item(ref, sandbox_url)
        fd, tmp = tempfile.mkstemp(prefix="postpulse-track-", suffix=".jsonl")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(item) + b"\n")
            load_records(
                engine,
                iter_file(tmp, captured_at=now),
                RunSource(
                    source_kind="api",
                    source_path=ref,
                    platform=platform,
                    captured_at=now,
                    captured_at_source="fetch_time",
                    script_name="postpulse track",
                ),
                now=now,
            )
        finally:
            os.unlink(tmp)
        with engine.connect() as conn:
            post = find_post(conn, ref)
            if post is None:
                pid = str(item.get("id") or item.get("shortCode") or "")
                row = conn.execute(
                    text(
                        "SELECT id FROM data_downloads d JOIN download_runs r ON r.id = d.run_id "
                        "WHERE r.source_path = :u ORDER BY d.created_at DESC LIMIT 1"
                    ),
                    {"u": ref},
                ).scalar()
                post = find_post(conn, row or pid) if (row or pid) else None
                if post is None and row:
                    pid_row = conn.execute(
                        text("SELECT post_id FROM data_downloads WHERE id = :i"), {"i": row}
                    ).scalar()
                    post = find_post(conn, pid_row)
        if post is None:
            raise TrackError(f"fetched {ref} but could not store it as a post")
    if post["is_deleted"]:
        raise TrackError(
            f"post {post['id']} was deleted on the platform; its history stays, nothing to track"
        )
    schedule = sched or resolve_schedule(post["platform"], post["check_schedule"], post["account_settings"])
    offs = offsets_seconds(schedule)
    started = as_utc(post["tracking_started_at"]) or now
    anchor = as_utc(post["posted_at"]) or started
    st = slot_state(offs, anchor, now)
    next_at = st.next_check_at or now  # past every slot: one last check now
    with engine.begin() as conn:
        conn.execute(
            text("""
            UPDATE posts SET check_schedule = CASE WHEN CAST(:sched AS jsonb) IS NULL THEN check_schedule
                ELSE CAST(:sched AS jsonb) END,
              tracking_started_at = coalesce(tracking_started_at, :now), tracking_complete = false,
              next_check_at = :next, checks_completed = :done, check_failures = 0, last_check_error = NULL
            WHERE id = :id"""),
            {
                "sched": orjson.dumps(sched).decode() if sched else None,
                "now": now,
                "next": next_at,
                "done": st.checks_completed,
                "id": post["id"],
            },
        )
    return {
        "post_id": post["id"],
        "platform": post["platform"],
        "next_check_at": next_at,
        "schedule": schedule,
    }


def untrack_post(engine: Engine, ref: str) -> str:
    with engine.begin() as conn:
        post = find_post(conn, ref)
        if post is None:
            raise TrackError(
                f"no post {ref!r} in the store", fix="give a post URL or id (p-…) from `postpulse tracking`"
            )
        conn.execute(
            text("UPDATE posts SET tracking_complete = true, next_check_at = NULL WHERE id = :id"),
            {"id": post["id"]},
        )
    return post["id"]


@dataclass
class TrackedRow:
    post_id: str
    platform: str
    author: str | None
    url: str | None
    posted_at: datetime | None
    next_check_at: datetime | None
    checks_completed: int
    slots: int
    check_failures: int
    last_check_error: str | None
    snapshots: int


def tracking_list(
    engine: Engine, *, platform: str | None = None, limit: int = 50, include_done: bool = False
) -> tuple[int, list[TrackedRow]]:
    where = (
        "p.tracking_started_at IS NOT NULL"
        if include_done
        else "p.tracking_complete = false AND p.next_check_at IS NOT NULL"
    )
    sql = text(f"""
        SELECT p.id, p.platform, p.author_username, p.url, p.posted_at, p.next_check_at, p.checks_completed,
               p.check_schedule, p.check_failures, p.last_check_error, a.settings AS account_settings,
               (SELECT count(*) FROM data_downloads d WHERE d.post_id = p.id) AS snapshots
        FROM posts p LEFT JOIN accounts a ON a.id = p.account_id
        WHERE {where} AND (CAST(:platform AS text) IS NULL OR p.platform = :platform)
        ORDER BY p.next_check_at NULLS LAST, p.id LIMIT :limit""")  # noqa: S608 - where is one of two constants
    count_sql = text(
        f"SELECT count(*) FROM posts p WHERE {where} AND (CAST(:platform AS text) IS NULL "
        "OR p.platform = :platform)"
    )
    with engine.connect() as conn:
        total = conn.execute(count_sql, {"platform": platform}).scalar()
        rows = conn.execute(sql, {"platform": platform, "limit": limit}).mappings().all()
    out = []
    for r in rows:
        slots = len(resolve_schedule(r["platform"], r["check_schedule"], r["account_settings"]))
        out.append(
            TrackedRow(
                r["id"],
                r["platform"],
                r["author_username"],
                r["url"],
                r["posted_at"],
                r["next_check_at"],
                r["checks_completed"],
                slots,
                r["check_failures"],
                r["last_check_error"],
                r["snapshots"],
            )
        )
    return total, out
