"""Profile snapshots: followers, following, post count (and views) of a profile per capture, an
append-only series like the posts' snapshots.

They come from

* imports whose records carry profile counts (most scraper formats): one snapshot per profile
  and run, at the time the run saw it (:func:`record_from_import`, called after the merge);
* account-level daily statistics exports (``account_daily_stats``: a CSV or JSON of dates with
  follower/following/post/view totals for one account, as dashboards export them):
  :func:`import_daily_stats`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.agency.errors import AgencyError
from postpulse.agency.sqlutil import find_profile, insert_missing
from postpulse.ids import allocate_ids, insert_with_new_id, retry_on_id_collision

FORMAT = "account_daily_stats"

# the import's deduplicated profiles of the run (postpulse.ingest.merge), if present
_FROM_IMPORT = """
INSERT INTO profile_snapshots (id, profile_id, captured_at, follower_count, following_count, post_count,
                               source, run_id)
SELECT pp_new_id('psn'), pr.id, s.seen_at, s.follower_count, s.following_count, s.post_count, 'import', :run
FROM _prof s JOIN profiles pr ON pr.platform = s.platform AND pr.profile_key = s.pkey
WHERE (s.follower_count IS NOT NULL OR s.following_count IS NOT NULL OR s.post_count IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM profile_snapshots x WHERE x.profile_id = pr.id AND x.captured_at = s.seen_at)
ON CONFLICT DO NOTHING"""


def record_from_import(conn: Connection, run_id: str) -> int:
    """One snapshot per profile of the run that carried counts; returns how many were added."""
    if conn.execute(text("SELECT to_regclass('pg_temp._prof')")).scalar() is None:
        return 0
    return insert_missing(conn, _FROM_IMPORT, {"run": run_id})


# -- account daily statistics ------------------------------------------------------------------

ALIASES = {
    "date": ("date", "day", "metric_date", "datum"),
    "followers": (
        "followers",
        "follower_count",
        "followers_count",
        "total_followers",
        "followers_total",
        "fans",
    ),
    "following": ("following", "following_count", "follows"),
    "posts": ("posts", "post_count", "posts_count", "media_count", "videos"),
    "views": ("views", "profile_views", "video_views", "view_count", "impressions"),
    "platform": ("platform", "network"),
    "username": ("username", "account", "handle", "user"),
}
COUNTS = ("followers", "following", "posts", "views")


@dataclass(frozen=True)
class DailyStat:
    day: date
    followers: int | None
    following: int | None
    posts: int | None
    views: int | None


@dataclass
class DailyStats:
    path: Path
    platform: str
    username: str
    days: list[DailyStat]
    sha256: str
    size: int


def _canon(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        k = str(key or "").strip().lower().replace(" ", "_")
        for name, aliases in ALIASES.items():
            if k in aliases and name not in out:
                out[name] = value
    return out


def _count(path: Path, where: str, name: str, value) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        n = int(str(value).strip().replace(",", "").replace("_", "")) if not isinstance(value, int) else value
    except ValueError:
        raise AgencyError(
            f"{path}: {where}: field {name!r} is {value!r}, not a whole number", fix="give totals as numbers"
        ) from None
    if n < 0:
        raise AgencyError(f"{path}: {where}: field {name!r} is negative ({n})", fix="give totals >= 0")
    return n


def read_daily_stats(
    path: str | Path, *, platform: str | None = None, username: str | None = None
) -> DailyStats:
    """Parse an account daily statistics file (CSV with a header, or JSON: a list of objects or
    ``{"platform", "username", "days": [...]}``). Every row is checked before anything is stored."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AgencyError(f"{path}: cannot read ({exc.strerror or exc})", fix="check the path") from None
    body = raw.decode("utf-8-sig", errors="replace")
    meta: dict = {}
    if body.lstrip().startswith(("[", "{")):
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise AgencyError(f"{path}: not valid JSON ({exc})") from None
        if isinstance(doc, dict):
            meta = _canon(doc)
            doc = doc.get("days") or doc.get("data") or []
        if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
            raise AgencyError(f"{path}: expected a list of objects with a date and totals per day")
        rows = [(f"item {i}", _canon(r)) for i, r in enumerate(doc)]
    else:
        reader = csv.DictReader(io.StringIO(body))
        rows = [(f"line {i + 2}", _canon(r)) for i, r in enumerate(reader)]
    if not rows:
        raise AgencyError(f"{path}: no rows", fix="export at least one day")
    days: list[DailyStat] = []
    seen: set[date] = set()
    for where, r in rows:
        if "date" not in r or not str(r["date"] or "").strip():
            raise AgencyError(f"{path}: {where}: no date", fix="add a column 'date' (YYYY-MM-DD)")
        try:
            day = date.fromisoformat(str(r["date"]).strip()[:10])
        except ValueError:
            raise AgencyError(
                f"{path}: {where}: date {r['date']!r} is not YYYY-MM-DD", fix="write dates as 2025-01-31"
            ) from None
        if day in seen:
            raise AgencyError(f"{path}: {where}: {day} appears twice", fix="keep one row per date")
        seen.add(day)
        values = {k: _count(path, where, k, r.get(k)) for k in COUNTS}
        if all(v is None for v in values.values()):
            raise AgencyError(
                f"{path}: {where}: no followers, following, posts or views total",
                fix="add at least a 'followers' or 'views' column",
            )
        days.append(DailyStat(day, **values))
        meta.setdefault("platform", r.get("platform"))
        meta.setdefault("username", r.get("username"))
    platform = (platform or meta.get("platform") or "").strip().lower()
    username = (username or meta.get("username") or "").strip().lstrip("@")
    if not platform or not username:
        raise AgencyError(
            f"{path}: which account is this? no platform and username",
            fix="pass --platform and --username, or add 'platform' and 'username' columns",
        )
    return DailyStats(
        path, platform, username, sorted(days, key=lambda d: d.day), hashlib.sha256(raw).hexdigest(), len(raw)
    )


def day_end(day: date) -> datetime:
    """The capture time of a daily total: the end of that UTC day."""
    return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(seconds=1)


def ensure_profile(conn: Connection, platform: str, username: str) -> str:
    """The profile of ``platform``/``username``, created if missing (linked to our account, if any)."""
    found = find_profile(conn, platform, username)
    if found:
        return found
    account = conn.execute(
        text("SELECT id FROM accounts WHERE platform = :p AND lower(username) = lower(:u)"),
        {"p": platform, "u": username},
    ).scalar()
    return insert_with_new_id(
        conn, "profiles", {"platform": platform, "username": username, "account_id": account}
    )["id"]


@dataclass
class DailyStatsResult:
    run_id: str | None
    profile_id: str
    days: int
    added: int
    already_imported: bool = False


def import_daily_stats(
    conn: Connection, stats: DailyStats, *, now: datetime | None = None
) -> DailyStatsResult:
    """Store the file's days as profile snapshots of the account's profile under one download
    run (the same file twice: nothing changes; overlapping days already stored are kept)."""
    now = now or datetime.now(UTC)
    prev = conn.execute(
        text("SELECT id FROM download_runs WHERE source_sha256 = :s AND status IN ('running', 'completed')"),
        {"s": stats.sha256},
    ).scalar()
    profile_id = ensure_profile(conn, stats.platform, stats.username)
    if prev:
        return DailyStatsResult(prev, profile_id, len(stats.days), 0, already_imported=True)

    def create_run() -> str:
        (rid,) = allocate_ids(conn, "download_runs", 1)
        conn.execute(
            text(
                """INSERT INTO download_runs (id, started_at, completed_at, status, source_kind, script_name,
                       platform, format, source_path, source_sha256, source_bytes, captured_at,
                       captured_at_source)
                   VALUES (:id, :now, :now, 'completed', 'file', 'postpulse account daily stats', :p, :f,
                           :path, :sha, :size, :cap, 'record')"""
            ),
            {
                "id": rid,
                "now": now,
                "p": stats.platform,
                "f": FORMAT,
                "path": str(stats.path.resolve()),
                "sha": stats.sha256,
                "size": stats.size,
                "cap": day_end(stats.days[-1].day),
            },
        )
        return rid

    run_id = retry_on_id_collision(conn, "download_runs", create_run)
    payload = json.dumps(
        [
            {
                "at": day_end(d.day).isoformat(),
                "followers": d.followers,
                "following": d.following,
                "posts": d.posts,
                "views": d.views,
            }
            for d in stats.days
        ]
    )
    added = insert_missing(
        conn,
        """INSERT INTO profile_snapshots (id, profile_id, captured_at, follower_count, following_count,
                                         post_count, view_count, source, run_id)
           SELECT pp_new_id('psn'), :prf, x.at, x.followers, x.following, x.posts, x.views,
                  'account_daily_stats', :run
           FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                AS x(at timestamptz, followers bigint, following bigint, posts bigint, views bigint)
           WHERE NOT EXISTS (SELECT 1 FROM profile_snapshots s
                             WHERE s.profile_id = :prf AND s.captured_at = x.at)
           ON CONFLICT DO NOTHING""",
        {"prf": profile_id, "run": run_id, "rows": payload},
    )
    return DailyStatsResult(run_id, profile_id, len(stats.days), added)
