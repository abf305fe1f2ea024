"""Load normalized records into the store: one download run, one transaction, set-based SQL.

How an import works (``import_file`` / ``load_records``):

1. The source file's SHA-256 is computed first. A completed (or running) run with the same hash
   means the file was imported already: nothing is written, the result says
   ``already imported as run-…`` (the unique partial index on ``download_runs.source_sha256``
   makes this safe between concurrent importers too).
2. One transaction: the run row is inserted (status ``running``), the parser's record stream is
   COPYed in chunks into temporary staging tables (bounded memory: at most ``CHUNK_RECORDS``
   records or ``CHUNK_BYTES`` of rows are held in Python at a time). The whole file is parsed
   before anything is merged; a file that turns out unreadable half-way raises and the
   transaction rolls back, so nothing from it is stored (not even the run).
3. Set-based merge, never row by row: profiles (natural key ``platform`` + ``profile_key``),
   posts (``platform`` + ``platform_post_id``), snapshots in ``data_downloads`` (``post_id`` +
   ``downloaded_at``), media (``post_id`` + ``media_url``), comments (``platform`` +
   ``platform_comment_id``, replies' parents resolved after all comments are in), rejected
   records; ``UPDATE ... FROM staging`` for existing rows and ``INSERT ... SELECT ... ON CONFLICT``
   for new ones, whose ids are allocated in bulk (:func:`postpulse.ids.allocate_ids`) and
   retried with fresh ids on a primary-key collision (:func:`postpulse.ids.retry_on_id_collision`).
4. The run is completed with its counts; commit. A crash (even ``kill -9``) before the commit
   leaves the store as if the import never started.

Decisions:

* **Capture time** of a snapshot: the record's own (``captured_at`` in the data) → the
  timestamp in the file name (Apify export names) → the caller's ``captured_at``
  (``--captured-at``) → the import time. The run records which one it used
  (``captured_at_source``: ``record`` only when every snapshot carried its own).
* **Duplicates inside one file**: one snapshot per (post, capture time); the *first* record in
  file order wins (the parser already reports later ones as ``Rejected(kind="duplicate")``;
  the loader applies the same rule if it sees any). Later duplicates are kept aside in
  ``rejected_records`` with the index of the record that was kept.
* **Posts**: ``first_seen_at`` = the earliest capture time seen (kept on later imports),
  ``last_extracted_at`` = the latest (advanced). Content and the denormalized latest counts are
  replaced only by a snapshot at least as new as ``last_extracted_at`` (an older file fills
  gaps but never overwrites newer values); absent counts never erase known ones.
* **Snapshots** are append-only: a snapshot that exists for (post, downloaded_at) is never
  changed (first import wins). Unchanged re-captures at a new time are new snapshots.
* Comments whose post is not in the file nor the store get a stub post (platform + id only,
  no snapshot), so no comment is lost.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform as _platform
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from postpulse import __version__
from postpulse.checkbacks.schedule import DEFAULT_SCHEDULES, STANDARD, offsets_seconds, start_state
from postpulse.errors import PostpulseError
from postpulse.ids import allocate_ids, retry_on_id_collision

CHUNK_RECORDS = 5000
CHUNK_BYTES = 32 * 1024 * 1024
MAX_COUNT = 10 ** 15  # a count above this is not a real metric ("absurd"): rejected
PREVIEW_ROWS = 10

CONTENT_TYPES = {"text", "image", "video", "carousel", "story", "reel", "mixed", "document",
                 "article", "poll", "unknown"}
MEDIA_TYPES = {"image", "video", "gif", "document", "audio", "carousel", "unknown"}
COUNT_FIELDS = ("reactions", "likes", "comments", "shares", "views", "saves", "impressions",
                "reach", "clicks", "quotes")
SNAPSHOT_COLUMNS = ("total_reactions", "like_count", "comment_count", "share_count", "view_count",
                    "save_count", "impression_count", "reach_count", "click_count", "quote_count")

ProgressFn = Callable[[int, int], None]
"""``progress(records_parsed, bytes_read)``; called after each chunk (and at the end)."""


class ImportFailed(PostpulseError):
    """The import stored nothing; the message names the file and the problem."""


@dataclass
class RunSource:
    """What a run is about (everything but the records)."""

    source_kind: str = "file"  # file | apify | api | checkback | sandbox | browser
    source_path: str | None = None
    source_sha256: str | None = None
    source_bytes: int | None = None
    format: str | None = None
    platform: str | None = None
    captured_at: datetime | None = None
    """Fallback capture time for records without their own."""
    captured_at_source: str = "import_time"  # filename | cli | import_time | fetch_time
    script_name: str | None = None
    dagster_run_id: str | None = None
    track: bool = False
    """Start check-back tracking for the posts this run inserts."""
    extra_info: dict = field(default_factory=dict)


@dataclass
class ImportResult:
    run_id: str | None
    status: str  # completed | already_imported
    source_path: str | None = None
    source_sha256: str | None = None
    source_bytes: int | None = None
    format: str | None = None
    platform: str | None = None
    captured_at: datetime | None = None
    captured_at_source: str | None = None
    records_parsed: int = 0
    posts_fetched: int = 0
    posts_new: int = 0
    posts_updated: int = 0
    snapshots_new: int = 0
    comments_upserted: int = 0
    profiles_new: int = 0
    media_upserted: int = 0
    records_rejected: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    """The first rejected records (index, field, reason)."""
    preview: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    message: str = ""

    @property
    def already_imported(self) -> bool:
        return self.status == "already_imported"

    def summary(self) -> str:
        if self.already_imported:
            return self.message
        return (f"{self.run_id}: {self.posts_fetched} posts ({self.posts_new} new, {self.posts_updated} "
                f"updated), {self.snapshots_new} snapshots, {self.comments_upserted} comments, "
                f"{self.records_rejected} rejected")

    def preview_markdown(self) -> str:
        return preview_markdown(self.preview)


def preview_markdown(rows: list[dict]) -> str:
    if not rows:
        return "_no posts_"

    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        s = s.replace("|", "\\|").replace("\n", " ").replace("\r", " ")
        return s[:60] + ("…" if len(s) > 60 else "")

    cols = ["post_id", "platform", "author", "posted_at", "likes", "comments", "views", "text"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(cell(r.get(c)) for c in cols) + " |")
    return "\n".join(out)


# ----------------------------------------------------------------------------- helpers


def sha256_file(path: str | os.PathLike, bufsize: int = 1 << 20) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def system_info(**extra: Any) -> dict:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {"hostname": socket.gethostname(), "user": user, "postpulse_version": __version__,
            "python": _platform.python_version(), "platform": sys.platform, "pid": os.getpid(), **extra}


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def _fix_text(value: Any) -> Any:
    """Strings PostgreSQL can store: no NUL, no lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_fix_text(k) if isinstance(k, str) else str(k): _fix_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_text(v) for v in value]
    return value


_J_OPTS = orjson.OPT_NON_STR_KEYS


def _j(obj: Any) -> str:
    """JSON text for a jsonb column (no ``\\u0000``, which jsonb rejects)."""
    try:
        data = orjson.dumps(obj, option=_J_OPTS)
    except (TypeError, orjson.JSONEncodeError):
        obj = _fix_text(obj)
        try:
            data = orjson.dumps(obj, option=_J_OPTS, default=str)
        except (TypeError, orjson.JSONEncodeError):
            data = json.dumps(obj, default=str, ensure_ascii=False).encode("utf-8", "replace")
    if b"\\u0000" in data:
        data = orjson.dumps(_strip_nul(obj), option=_J_OPTS, default=str)
    return data.decode("utf-8")


def _t(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value


class _BadRecord(ValueError):
    def __init__(self, field: str, reason: str):
        self.field = field
        super().__init__(reason)


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadRecord(name, f"count {name} is not an integer: {str(value)[:40]!r}")
    if value < 0:
        raise _BadRecord(name, f"count {name} is negative ({value})")
    if value > MAX_COUNT:
        raise _BadRecord(name, f"count {name} is absurdly large ({value})")
    return value


def _excerpt(raw: Any) -> str:
    try:
        s = _j(raw)
    except Exception:
        s = repr(raw)
    return s[:200]


# ----------------------------------------------------------------------------- staging

_STAGING_DDL = """
DROP TABLE IF EXISTS stg_post, stg_profile, stg_comment, stg_media, stg_reject, stg_hashtag, _ids;
CREATE TEMP TABLE stg_post (
  idx integer, platform text, platform_post_id text, full_urn text, url text,
  a_uid text, a_username text, text_content text, post_type text, content_type text,
  posted_at timestamptz, posted_approx boolean, hashtags jsonb, mentions jsonb, is_sponsored boolean,
  reactions bigint, likes bigint, comments bigint, shares bigint, views bigint, saves bigint,
  impressions bigint, reach bigint, clicks bigint, quotes bigint,
  stats jsonb, raw jsonb, captured_at timestamptz, media_urls jsonb,
  next_check_at timestamptz, checks_completed integer, track_complete boolean
) ON COMMIT DROP;
CREATE TEMP TABLE stg_profile (
  idx integer, platform text, uid text, username text, display_name text, profile_url text,
  follower_count bigint, following_count bigint, post_count bigint, is_verified boolean, bio text,
  raw jsonb, seen_at timestamptz
) ON COMMIT DROP;
CREATE TEMP TABLE stg_comment (
  idx integer, sub integer, platform text, pcid text, platform_post_id text, parent_pcid text,
  a_uid text, a_username text, text_content text, posted_at timestamptz, like_count bigint,
  reply_count bigint, raw jsonb, seen_at timestamptz
) ON COMMIT DROP;
CREATE TEMP TABLE stg_media (
  idx integer, platform text, platform_post_id text, media_type text, url text, thumbnail_url text,
  width integer, height integer, duration_s real, position integer
) ON COMMIT DROP;
CREATE TEMP TABLE stg_reject (record_index integer, field text, reason text, excerpt text, kind text) ON COMMIT DROP;
CREATE TEMP TABLE stg_hashtag (
  idx integer, platform text, name text, post_count bigint, raw jsonb, seen_at timestamptz
) ON COMMIT DROP;
CREATE TEMP TABLE _ids (rn bigint PRIMARY KEY, id text NOT NULL) ON COMMIT DROP;
"""

_COPY_COLUMNS = {
    "stg_post": ("idx", "platform", "platform_post_id", "full_urn", "url", "a_uid", "a_username",
                 "text_content", "post_type", "content_type", "posted_at", "posted_approx", "hashtags",
                 "mentions", "is_sponsored", "reactions", "likes", "comments", "shares", "views", "saves",
                 "impressions", "reach", "clicks", "quotes", "stats", "raw", "captured_at", "media_urls",
                 "next_check_at", "checks_completed", "track_complete"),
    "stg_profile": ("idx", "platform", "uid", "username", "display_name", "profile_url", "follower_count",
                    "following_count", "post_count", "is_verified", "bio", "raw", "seen_at"),
    "stg_comment": ("idx", "sub", "platform", "pcid", "platform_post_id", "parent_pcid", "a_uid",
                    "a_username", "text_content", "posted_at", "like_count", "reply_count", "raw", "seen_at"),
    "stg_media": ("idx", "platform", "platform_post_id", "media_type", "url", "thumbnail_url", "width",
                  "height", "duration_s", "position"),
    "stg_reject": ("record_index", "field", "reason", "excerpt", "kind"),
    "stg_hashtag": ("idx", "platform", "name", "post_count", "raw", "seen_at"),
}


class _Stager:
    """Turns records into staging rows and COPYs them in chunks."""

    def __init__(self, raw_conn, source: RunSource, now: datetime):
        self.raw = raw_conn
        self.source = source
        self.now = now
        self.fallback = _utc(source.captured_at) or now
        self.buffers: dict[str, list[tuple]] = {k: [] for k in _COPY_COLUMNS}
        self.buffered_bytes = 0
        self.buffered_records = 0
        self.records = 0
        self.posts = 0
        self.rejected = 0
        self.with_own_time = 0
        self.without_own_time = 0
        self.record_times: list[datetime] = []
        self.platforms: dict[str, int] = {}
        self.formats: dict[str, int] = {}
        self._offsets: dict[str, list[int]] = {}

    # -- records ------------------------------------------------------------------------------
    def add(self, rec: Any) -> None:
        from postpulse.ingest.records import CommentRecord, HashtagStatsRecord, PostRecord, Rejected

        self.records += 1
        self.buffered_records += 1
        kind = type(rec)
        if kind is PostRecord:
            try:
                self._post(rec)
            except _BadRecord as exc:
                self._reject(rec.record_index, exc.field, str(exc), _excerpt(rec.raw), "invalid")
        elif kind is CommentRecord:
            try:
                self._standalone_comment(rec)
            except _BadRecord as exc:
                self._reject(rec.record_index, exc.field, str(exc), _excerpt(rec.raw), "invalid")
        elif kind is Rejected:
            self._reject(rec.record_index, rec.field, rec.reason, rec.excerpt, getattr(rec, "kind", "invalid"))
        elif kind is HashtagStatsRecord:
            seen = _utc(rec.captured_at) or self.fallback
            name = _t(rec.name or "").lstrip("#").strip().lower()
            if name:
                pc = rec.posts_count
                pc = pc if isinstance(pc, int) and not isinstance(pc, bool) and 0 <= pc <= MAX_COUNT else None
                self._buf("stg_hashtag", (rec.record_index, rec.platform, name[:200], pc, _j(rec.raw), seen))
        if self.buffered_records >= CHUNK_RECORDS or self.buffered_bytes >= CHUNK_BYTES:
            self.flush()

    def _buf(self, table: str, row: tuple) -> None:
        self.buffers[table].append(row)

    def _reject(self, index: int, fld: str | None, reason: str, excerpt: str, kind: str) -> None:
        self.rejected += 1
        self._buf("stg_reject", (index, _t(fld), _t(reason) or "rejected", _fix_text(_t(excerpt) or "")[:200], kind))

    def _schedule_state(self, platform: str, posted_at: datetime | None, captured: datetime):
        if not self.source.track:
            return None, None, None
        offs = self._offsets.get(platform)
        if offs is None:
            offs = self._offsets[platform] = offsets_seconds(DEFAULT_SCHEDULES.get(platform, STANDARD))
        anchor = posted_at or captured
        st = start_state(offs, anchor, max(captured, self.now))
        return st.next_check_at, st.checks_completed, st.complete

    def _profile(self, prof: Any, seen: datetime, index: int) -> tuple[str | None, str | None]:
        if prof is None:
            return None, None
        uid = _t(prof.platform_user_id) or None
        username = _t(prof.username) or None
        if uid is None and username is None:
            return None, None
        if uid and len(uid) > 400 or username and len(username) > 400:
            return None, None
        cnt = {}
        for name in ("follower_count", "following_count", "post_count"):
            v = getattr(prof, name)
            cnt[name] = v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT else None
        raw = prof.raw or {}
        self._buf("stg_profile", (index, prof.platform, uid, username, _t(prof.display_name), _t(prof.profile_url),
                                  cnt["follower_count"], cnt["following_count"], cnt["post_count"],
                                  prof.is_verified if isinstance(prof.is_verified, bool) else None,
                                  _t(prof.bio), _j(raw) if raw else None, seen))
        return uid, username

    def _post(self, rec: Any) -> None:
        pid = _t(rec.platform_post_id)
        if not pid or not pid.strip():
            raise _BadRecord("platform_post_id", "missing post id")
        if len(pid) > 400:
            raise _BadRecord("platform_post_id", f"post id longer than 400 characters ({len(pid)})")
        c = rec.counts
        counts = [_count(getattr(c, n), n) for n in COUNT_FIELDS]
        own = _utc(rec.captured_at)
        if own is not None:
            self.with_own_time += 1
            captured = own
            if len(self.record_times) < 2:
                self.record_times.append(own)
            else:
                self.record_times[0] = min(self.record_times[0], own)
                self.record_times[1] = max(self.record_times[1], own)
        else:
            self.without_own_time += 1
            captured = self.fallback
        raw = rec.raw if isinstance(rec.raw, dict) else {"value": rec.raw}
        try:
            raw_json = orjson.dumps(raw, option=_J_OPTS)
            if b"\\u0000" in raw_json:
                raise TypeError
            raw_text = raw_json.decode()
            fix = lambda v: v  # noqa: E731
        except (TypeError, orjson.JSONEncodeError):
            raw_text = _j(raw)
            fix = _fix_text  # odd Unicode somewhere in the record: clean every string
        posted_at = _utc(rec.posted_at)
        a_uid, a_username = self._profile(rec.author, captured, rec.record_index)
        content_type = (rec.content_type or "unknown").lower()
        if content_type not in CONTENT_TYPES:
            content_type = "unknown"
        media_urls = [fix(_t(m.url)) for m in rec.media if m.url]
        nca, done, complete = self._schedule_state(rec.platform, posted_at, captured)
        row = (rec.record_index, rec.platform, fix(pid), fix(_t(rec.full_urn)), fix(_t(rec.url)),
               fix(a_uid), fix(a_username), fix(_t(rec.text)), fix(_t(rec.post_type)), content_type,
               posted_at, bool(rec.posted_at_approximate), _j(fix(list(rec.hashtags or []))),
               _j(fix(list(rec.mentions or []))), rec.is_sponsored if isinstance(rec.is_sponsored, bool) else None,
               *counts, _j(rec.platform_stats or {}), raw_text, captured, _j(media_urls), nca, done, complete)
        self._buf("stg_post", row)
        self.buffered_bytes += len(raw_text) + len(row[7] or "")
        self.posts += 1
        self.platforms[rec.platform] = self.platforms.get(rec.platform, 0) + 1
        if getattr(rec, "format", None):
            self.formats[rec.format] = self.formats.get(rec.format, 0) + 1
        for pos, m in enumerate(rec.media):
            url = _t(m.url)
            if not url:
                continue
            mt = (m.media_type or "unknown").lower()
            if mt not in MEDIA_TYPES:
                mt = "unknown"
            w = m.width if isinstance(m.width, int) and 0 < m.width < 2 ** 31 else None
            h = m.height if isinstance(m.height, int) and 0 < m.height < 2 ** 31 else None
            d = float(m.duration_s) if isinstance(m.duration_s, (int, float)) and 0 <= m.duration_s < 1e9 else None
            self._buf("stg_media", (rec.record_index, rec.platform, fix(pid), mt, fix(url), fix(_t(m.thumbnail_url)),
                                    w, h, d, m.position if isinstance(m.position, int) else pos))
        for sub, cm in enumerate(rec.comments, start=1):
            try:
                self._comment(cm, rec.record_index, sub, pid, captured)
            except _BadRecord:
                continue  # a broken nested comment does not cost the post

    def _standalone_comment(self, rec: Any) -> None:
        captured = _utc(rec.captured_at) or self.fallback
        if not _t(rec.platform_post_id):
            raise _BadRecord("platform_post_id", "comment without the id of its post")
        self._comment(rec, rec.record_index, 0, None, captured)
        self.platforms[rec.platform] = self.platforms.get(rec.platform, 0) + 1

    def _comment(self, cm: Any, index: int, sub: int, post_pid: str | None, captured: datetime) -> None:
        pcid = _t(cm.platform_comment_id)
        if not pcid or len(pcid) > 400:
            raise _BadRecord("platform_comment_id", "missing comment id")
        ppid = _t(cm.platform_post_id) or post_pid
        if not ppid or len(ppid) > 400:
            raise _BadRecord("platform_post_id", "comment without the id of its post")
        like = cm.like_count if isinstance(cm.like_count, int) and 0 <= cm.like_count <= MAX_COUNT else None
        reply = cm.reply_count if isinstance(cm.reply_count, int) and 0 <= cm.reply_count <= MAX_COUNT else None
        a_uid, a_username = self._profile(cm.author, captured, index)
        raw = cm.raw if isinstance(cm.raw, dict) else {}
        self._buf("stg_comment", (index, sub, cm.platform, _fix_text(pcid), _fix_text(ppid),
                                  _fix_text(_t(cm.parent_platform_comment_id)), _fix_text(a_uid),
                                  _fix_text(a_username), _fix_text(_t(cm.text)) or "", _utc(cm.posted_at),
                                  like, reply, _j(raw), captured))

    def flush(self) -> None:
        with self.raw.cursor() as cur:
            for table, rows in self.buffers.items():
                if not rows:
                    continue
                cols = ", ".join(_COPY_COLUMNS[table])
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
                rows.clear()
        self.buffered_bytes = 0
        self.buffered_records = 0


# ----------------------------------------------------------------------------- merge SQL


def _x(conn: Connection, sql: str, params: dict | None = None):
    return conn.exec_driver_sql(sql, params or {})


def _load_ids(raw_conn, ids: list[str]) -> None:
    with raw_conn.cursor() as cur:
        cur.execute("DELETE FROM _ids")
        with cur.copy("COPY _ids (rn, id) FROM STDIN") as cp:
            for i, v in enumerate(ids, start=1):
                cp.write_row((i, v))


BULK_IDS = 50_000
"""Above this many new rows, ids are allocated in a server-side pool, chunk by chunk, so that
memory stays bounded (a 1 GB file has millions of snapshots)."""


def _pool_ids(conn: Connection, raw_conn, table: str, n: int) -> None:
    """Fill ``_ids`` with ``n`` distinct ids not present in ``table`` (same guarantee as
    :func:`postpulse.ids.allocate_ids`, checked in the database, chunk by chunk)."""
    from postpulse import ids as ids_mod

    prefix = ids_mod.PREFIXES[table]
    with raw_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS _idpool, _idcand")
        cur.execute("CREATE TEMP TABLE _idpool (id text PRIMARY KEY) ON COMMIT DROP")
        cur.execute("CREATE TEMP TABLE _idcand (id text) ON COMMIT DROP")
        have = 0
        for _ in range(ids_mod.MAX_ROUNDS * 4):
            need = n - have
            if need <= 0:
                break
            k = min(BULK_IDS * 2, need + need // 10 + 16)
            cur.execute("TRUNCATE _idcand")
            with cur.copy("COPY _idcand (id) FROM STDIN") as cp:
                for _ in range(k):
                    cp.write_row((ids_mod.new_id(prefix),))
            # table names come from code (PREFIXES), never from input
            cur.execute(f"INSERT INTO _idpool SELECT DISTINCT c.id FROM _idcand c "
                        f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = c.id) ON CONFLICT DO NOTHING")
            have += cur.rowcount
        if have < n:
            raise ids_mod.IdSpaceExhausted(f"could not allocate {n} free ids for {table}")
        cur.execute("DELETE FROM _ids")
        cur.execute("INSERT INTO _ids (rn, id) SELECT row_number() OVER (ORDER BY id), id FROM _idpool")


def _insert_with_ids(conn: Connection, raw_conn, table: str, new_table: str, insert_sql: str,
                     params: dict | None = None) -> int:
    """Insert the rows listed in ``new_table`` (numbered ``rn`` 1..n) under fresh ids from
    ``_ids``; retried with new ids when one collides with a concurrent writer's."""
    n = _x(conn, f"SELECT count(*) FROM {new_table}").scalar()
    if not n:
        return 0

    def attempt() -> int:
        if n > BULK_IDS:
            _pool_ids(conn, raw_conn, table, n)
        else:
            _load_ids(raw_conn, allocate_ids(conn, table, n))
        return _x(conn, insert_sql, params).rowcount

    return retry_on_id_collision(conn, table, attempt)


_MERGE_PROFILES = [
    """CREATE TEMP TABLE _prof ON COMMIT DROP AS
       SELECT DISTINCT ON (platform, pkey) *
       FROM (SELECT s.*, coalesce(s.uid, 'u:' || lower(s.username)) AS pkey FROM stg_profile s) x
       ORDER BY platform, pkey, seen_at DESC, idx DESC""",
    """UPDATE profiles p SET
         username = coalesce(s.username, p.username),
         display_name = coalesce(s.display_name, p.display_name),
         profile_url = coalesce(s.profile_url, p.profile_url),
         bio = coalesce(s.bio, p.bio),
         follower_count = CASE WHEN s.seen_at >= p.last_seen_at THEN coalesce(s.follower_count, p.follower_count) ELSE coalesce(p.follower_count, s.follower_count) END,
         following_count = CASE WHEN s.seen_at >= p.last_seen_at THEN coalesce(s.following_count, p.following_count) ELSE coalesce(p.following_count, s.following_count) END,
         post_count = CASE WHEN s.seen_at >= p.last_seen_at THEN coalesce(s.post_count, p.post_count) ELSE coalesce(p.post_count, s.post_count) END,
         is_verified = coalesce(s.is_verified, p.is_verified),
         raw_json = CASE WHEN s.seen_at >= p.last_seen_at THEN coalesce(s.raw, p.raw_json) ELSE coalesce(p.raw_json, s.raw) END,
         first_seen_at = least(p.first_seen_at, s.seen_at),
         last_seen_at = greatest(p.last_seen_at, s.seen_at)
       FROM _prof s
       WHERE p.platform = s.platform AND p.profile_key = s.pkey
         AND (p.last_seen_at IS DISTINCT FROM greatest(p.last_seen_at, s.seen_at)
              OR p.first_seen_at IS DISTINCT FROM least(p.first_seen_at, s.seen_at)
              OR (s.display_name IS NOT NULL AND p.display_name IS NULL)
              OR (s.follower_count IS NOT NULL AND p.follower_count IS NULL))""",
    """CREATE TEMP TABLE _new_prof ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY s.platform, s.pkey) AS rn, s.platform, s.pkey
       FROM _prof s
       WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.platform = s.platform AND p.profile_key = s.pkey)""",
]
_INSERT_PROFILES = """
INSERT INTO profiles (id, platform, platform_user_id, username, display_name, profile_url, bio,
                      follower_count, following_count, post_count, is_verified, raw_json,
                      first_seen_at, last_seen_at)
SELECT i.id, s.platform, s.uid, s.username, s.display_name, s.profile_url, s.bio, s.follower_count,
       s.following_count, s.post_count, s.is_verified, s.raw, s.seen_at, s.seen_at
FROM _new_prof n JOIN _ids i USING (rn) JOIN _prof s ON s.platform = n.platform AND s.pkey = n.pkey
ON CONFLICT (platform, profile_key) DO NOTHING
"""

# one snapshot per (post, capture time): the first record in file order wins
_MERGE_POSTS = [
    """CREATE TEMP TABLE _snap ON COMMIT DROP AS
       SELECT DISTINCT ON (platform, platform_post_id, captured_at) idx, platform, platform_post_id, captured_at
       FROM stg_post ORDER BY platform, platform_post_id, captured_at, idx""",
    """INSERT INTO stg_reject (record_index, field, reason, excerpt, kind)
       SELECT s.idx, 'platform_post_id',
              'duplicate of record ' || k.idx || ' (post ' || s.platform_post_id || ', same capture time; the first one is kept)',
              left(s.raw::text, 200), 'duplicate'
       FROM stg_post s JOIN _snap k USING (platform, platform_post_id, captured_at)
       WHERE s.idx <> k.idx""",
    """CREATE TEMP TABLE _post ON COMMIT DROP AS
       SELECT DISTINCT ON (platform, platform_post_id) idx, platform, platform_post_id, captured_at,
              min(captured_at) OVER (PARTITION BY platform, platform_post_id) AS first_seen
       FROM _snap ORDER BY platform, platform_post_id, captured_at DESC, idx""",
]

_UPDATE_POSTS = """
UPDATE posts p SET
  full_urn = coalesce(p.full_urn, s.full_urn),
  url = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.url, p.url) ELSE coalesce(p.url, s.url) END,
  author_profile_id = coalesce(p.author_profile_id, a.id),
  author_username = coalesce(p.author_username, s.a_username, a.username),
  post_type = coalesce(p.post_type, s.post_type),
  content_type = CASE WHEN p.content_type = 'unknown' THEN s.content_type ELSE p.content_type END,
  text_content = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.text_content, p.text_content) ELSE coalesce(p.text_content, s.text_content) END,
  media_urls = CASE WHEN jsonb_array_length(p.media_urls) = 0 THEN s.media_urls ELSE p.media_urls END,
  hashtags = CASE WHEN jsonb_array_length(p.hashtags) = 0 THEN s.hashtags ELSE p.hashtags END,
  mentions = CASE WHEN jsonb_array_length(p.mentions) = 0 THEN s.mentions ELSE p.mentions END,
  is_sponsored = coalesce(p.is_sponsored, s.is_sponsored),
  posted_at = CASE WHEN p.posted_at IS NULL OR (p.posted_at_approximate AND NOT s.posted_approx AND s.posted_at IS NOT NULL) THEN s.posted_at ELSE p.posted_at END,
  posted_at_approximate = CASE WHEN p.posted_at IS NULL OR (p.posted_at_approximate AND NOT s.posted_approx AND s.posted_at IS NOT NULL) THEN s.posted_approx ELSE p.posted_at_approximate END,
  reaction_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.reactions, p.reaction_count) ELSE coalesce(p.reaction_count, s.reactions) END,
  like_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.likes, p.like_count) ELSE coalesce(p.like_count, s.likes) END,
  comment_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.comments, p.comment_count) ELSE coalesce(p.comment_count, s.comments) END,
  share_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.shares, p.share_count) ELSE coalesce(p.share_count, s.shares) END,
  view_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.views, p.view_count) ELSE coalesce(p.view_count, s.views) END,
  raw_json = CASE WHEN n.captured_at >= p.last_extracted_at OR p.raw_json IS NULL THEN s.raw ELSE p.raw_json END,
  first_seen_at = least(p.first_seen_at, n.first_seen),
  last_extracted_at = greatest(p.last_extracted_at, n.captured_at),
  tracking_started_at = CASE WHEN %(track)s AND p.tracking_started_at IS NULL AND NOT p.tracking_complete AND p.next_check_at IS NULL AND NOT p.is_deleted THEN %(now)s ELSE p.tracking_started_at END,
  next_check_at = CASE WHEN %(track)s AND p.tracking_started_at IS NULL AND NOT p.tracking_complete AND p.next_check_at IS NULL AND NOT p.is_deleted THEN s.next_check_at ELSE p.next_check_at END,
  checks_completed = CASE WHEN %(track)s AND p.tracking_started_at IS NULL AND NOT p.tracking_complete AND p.next_check_at IS NULL AND NOT p.is_deleted THEN coalesce(s.checks_completed, 0) ELSE p.checks_completed END,
  tracking_complete = CASE WHEN %(track)s AND p.tracking_started_at IS NULL AND NOT p.tracking_complete AND p.next_check_at IS NULL AND NOT p.is_deleted THEN coalesce(s.track_complete, false) ELSE p.tracking_complete END
FROM _post n JOIN stg_post s ON s.idx = n.idx
LEFT JOIN profiles a ON a.platform = s.platform AND a.profile_key = coalesce(s.a_uid, 'u:' || lower(s.a_username))
WHERE p.platform = n.platform AND p.platform_post_id = n.platform_post_id
"""
_NEW_POSTS = """
CREATE TEMP TABLE _new_post ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY n.platform, n.platform_post_id) AS rn, n.idx, n.first_seen, n.captured_at
FROM _post n
WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.platform = n.platform AND p.platform_post_id = n.platform_post_id)
"""
_INSERT_POSTS = """
INSERT INTO posts (id, platform, platform_post_id, full_urn, url, author_profile_id, author_username,
                   post_type, content_type, text_content, media_urls, hashtags, mentions, is_sponsored,
                   posted_at, posted_at_approximate, reaction_count, like_count, comment_count, share_count,
                   view_count, raw_json, first_seen_at, last_extracted_at,
                   tracking_started_at, next_check_at, checks_completed, tracking_complete)
SELECT i.id, s.platform, s.platform_post_id, s.full_urn, s.url, a.id, coalesce(s.a_username, a.username),
       s.post_type, s.content_type, s.text_content, s.media_urls, s.hashtags, s.mentions, s.is_sponsored,
       s.posted_at, s.posted_approx, s.reactions, s.likes, s.comments, s.shares,
       s.views, s.raw, n.first_seen, n.captured_at,
       CASE WHEN %(track)s THEN %(now)s END, CASE WHEN %(track)s THEN s.next_check_at END,
       CASE WHEN %(track)s THEN coalesce(s.checks_completed, 0) ELSE 0 END,
       CASE WHEN %(track)s THEN coalesce(s.track_complete, false) ELSE false END
FROM _new_post n JOIN _ids i USING (rn) JOIN stg_post s ON s.idx = n.idx
LEFT JOIN profiles a ON a.platform = s.platform AND a.profile_key = coalesce(s.a_uid, 'u:' || lower(s.a_username))
ON CONFLICT (platform, platform_post_id) DO NOTHING
"""
# posts that only comments point at (e.g. a comments export): stub rows, no snapshot
_NEW_STUBS = """
CREATE TEMP TABLE _new_stub ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY platform, platform_post_id) AS rn, platform, platform_post_id, seen
FROM (SELECT platform, platform_post_id, min(seen_at) AS seen FROM stg_comment GROUP BY 1, 2) c
WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.platform = c.platform AND p.platform_post_id = c.platform_post_id)
"""
_INSERT_STUBS = """
INSERT INTO posts (id, platform, platform_post_id, first_seen_at, last_extracted_at)
SELECT i.id, n.platform, n.platform_post_id, n.seen, n.seen FROM _new_stub n JOIN _ids i USING (rn)
ON CONFLICT (platform, platform_post_id) DO NOTHING
"""
_NEW_SNAPS = """
CREATE TEMP TABLE _new_snap ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY p.id, k.captured_at) AS rn, p.id AS post_id, k.idx
FROM _snap k JOIN posts p ON p.platform = k.platform AND p.platform_post_id = k.platform_post_id
WHERE NOT EXISTS (SELECT 1 FROM data_downloads d WHERE d.post_id = p.id AND d.downloaded_at = k.captured_at)
"""
_INSERT_SNAPS = """
INSERT INTO data_downloads (id, post_id, run_id, downloaded_at, total_reactions, like_count, comment_count,
                            share_count, view_count, save_count, impression_count, reach_count, click_count,
                            quote_count, stats_json, raw_json, source_file_path)
SELECT i.id, n.post_id, %(run_id)s, s.captured_at, s.reactions, s.likes, s.comments, s.shares, s.views,
       s.saves, s.impressions, s.reach, s.clicks, s.quotes, s.stats, s.raw, %(source_path)s
FROM _new_snap n JOIN _ids i USING (rn) JOIN stg_post s ON s.idx = n.idx
ON CONFLICT (post_id, downloaded_at) DO NOTHING
"""
_MERGE_MEDIA = [
    """CREATE TEMP TABLE _media ON COMMIT DROP AS
       SELECT DISTINCT ON (p.id, m.url) p.id AS post_id, m.*
       FROM stg_media m JOIN _snap k ON k.idx = m.idx
       JOIN posts p ON p.platform = m.platform AND p.platform_post_id = m.platform_post_id
       ORDER BY p.id, m.url, k.captured_at DESC, m.idx""",
    """UPDATE post_media pm SET
         thumbnail_url = coalesce(m.thumbnail_url, pm.thumbnail_url), width = coalesce(m.width, pm.width),
         height = coalesce(m.height, pm.height), duration_s = coalesce(m.duration_s, pm.duration_s)
       FROM _media m
       WHERE pm.post_id = m.post_id AND pm.media_url = m.url
         AND (pm.thumbnail_url IS DISTINCT FROM coalesce(m.thumbnail_url, pm.thumbnail_url)
              OR pm.width IS DISTINCT FROM coalesce(m.width, pm.width)
              OR pm.height IS DISTINCT FROM coalesce(m.height, pm.height))""",
    """CREATE TEMP TABLE _new_media ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY m.post_id, m.url) AS rn, m.post_id, m.url
       FROM _media m
       WHERE NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.post_id = m.post_id AND pm.media_url = m.url)""",
]
_INSERT_MEDIA = """
INSERT INTO post_media (id, post_id, media_type, media_url, thumbnail_url, width, height, duration_s, position)
SELECT i.id, m.post_id, m.media_type, m.url, m.thumbnail_url, m.width, m.height, m.duration_s, m.position
FROM _new_media n JOIN _ids i USING (rn) JOIN _media m ON m.post_id = n.post_id AND m.url = n.url
ON CONFLICT (post_id, media_url) WHERE post_id IS NOT NULL DO NOTHING
"""
_MERGE_COMMENTS = [
    """CREATE TEMP TABLE _cmt ON COMMIT DROP AS
       SELECT DISTINCT ON (c.platform, c.pcid) c.*, p.id AS post_id, a.id AS author_id
       FROM stg_comment c
       JOIN posts p ON p.platform = c.platform AND p.platform_post_id = c.platform_post_id
       LEFT JOIN profiles a ON a.platform = c.platform AND a.profile_key = coalesce(c.a_uid, 'u:' || lower(c.a_username))
       ORDER BY c.platform, c.pcid, c.seen_at DESC, c.idx, c.sub""",
    """UPDATE comments m SET
         text = CASE WHEN c.seen_at >= m.last_seen_at AND c.text_content <> '' THEN c.text_content ELSE m.text END,
         like_count = CASE WHEN c.seen_at >= m.last_seen_at THEN coalesce(c.like_count, m.like_count) ELSE coalesce(m.like_count, c.like_count) END,
         reply_count = CASE WHEN c.seen_at >= m.last_seen_at THEN coalesce(c.reply_count, m.reply_count) ELSE coalesce(m.reply_count, c.reply_count) END,
         author_profile_id = coalesce(m.author_profile_id, c.author_id),
         author_username = coalesce(m.author_username, c.a_username),
         posted_at = coalesce(m.posted_at, c.posted_at),
         raw_json = CASE WHEN c.seen_at >= m.last_seen_at THEN c.raw ELSE m.raw_json END,
         first_seen_at = least(m.first_seen_at, c.seen_at),
         last_seen_at = greatest(m.last_seen_at, c.seen_at)
       FROM _cmt c
       WHERE m.platform = c.platform AND m.platform_comment_id = c.pcid
         AND (c.seen_at > m.last_seen_at OR c.seen_at < m.first_seen_at
              OR (m.like_count IS NULL AND c.like_count IS NOT NULL))""",
    """CREATE TEMP TABLE _new_cmt ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY c.platform, c.pcid) AS rn, c.platform, c.pcid
       FROM _cmt c
       WHERE NOT EXISTS (SELECT 1 FROM comments m WHERE m.platform = c.platform AND m.platform_comment_id = c.pcid)""",
]
_INSERT_COMMENTS = """
INSERT INTO comments (id, platform, platform_comment_id, post_id, is_reply, author_profile_id, author_username,
                      text, posted_at, like_count, reply_count, raw_json, first_seen_at, last_seen_at)
SELECT i.id, c.platform, c.pcid, c.post_id, c.parent_pcid IS NOT NULL, c.author_id, c.a_username,
       c.text_content, c.posted_at, c.like_count, c.reply_count, c.raw, c.seen_at, c.seen_at
FROM _new_cmt n JOIN _ids i USING (rn) JOIN _cmt c ON c.platform = n.platform AND c.pcid = n.pcid
ON CONFLICT (platform, platform_comment_id) DO NOTHING
"""
_LINK_REPLIES = """
UPDATE comments m SET parent_comment_id = par.id, is_reply = true
FROM _cmt c JOIN comments par ON par.platform = c.platform AND par.platform_comment_id = c.parent_pcid
WHERE c.parent_pcid IS NOT NULL AND c.parent_pcid <> c.pcid
  AND m.platform = c.platform AND m.platform_comment_id = c.pcid
  AND m.parent_comment_id IS DISTINCT FROM par.id
"""
_NEW_REJECTS = """
CREATE TEMP TABLE _new_rej ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY record_index) AS rn, *
FROM (SELECT DISTINCT ON (record_index) * FROM stg_reject ORDER BY record_index, kind DESC) r
"""
_INSERT_REJECTS = """
INSERT INTO rejected_records (id, run_id, source_path, record_index, field, reason, excerpt)
SELECT i.id, %(run_id)s, %(source_path)s, r.record_index, r.field, left(r.reason, 2000), r.excerpt
FROM _new_rej r JOIN _ids i USING (rn)
ON CONFLICT (run_id, record_index) DO NOTHING
"""
_MERGE_HASHTAGS = [
    """CREATE TEMP TABLE _tag ON COMMIT DROP AS
       SELECT DISTINCT ON (platform, name) * FROM stg_hashtag ORDER BY platform, name, seen_at DESC, idx""",
    """UPDATE hashtags h SET post_count = CASE WHEN t.seen_at >= h.last_seen_at THEN coalesce(t.post_count, h.post_count) ELSE h.post_count END,
         raw_json = CASE WHEN t.seen_at >= h.last_seen_at THEN t.raw ELSE h.raw_json END,
         last_seen_at = greatest(h.last_seen_at, t.seen_at), first_seen_at = least(h.first_seen_at, t.seen_at)
       FROM _tag t WHERE h.platform = t.platform AND h.name = t.name
         AND (t.seen_at > h.last_seen_at OR t.seen_at < h.first_seen_at)""",
    """CREATE TEMP TABLE _new_tag ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY platform, name) AS rn, platform, name FROM _tag t
       WHERE NOT EXISTS (SELECT 1 FROM hashtags h WHERE h.platform = t.platform AND h.name = t.name)""",
]
_INSERT_HASHTAGS = """
INSERT INTO hashtags (id, platform, name, post_count, raw_json, first_seen_at, last_seen_at)
SELECT i.id, t.platform, t.name, t.post_count, t.raw, t.seen_at, t.seen_at
FROM _new_tag n JOIN _ids i USING (rn) JOIN _tag t ON t.platform = n.platform AND t.name = n.name
ON CONFLICT (platform, name) DO NOTHING
"""
_PREVIEW = """
SELECT p.id AS post_id, p.platform, p.author_username AS author, p.posted_at, p.like_count AS likes,
       p.comment_count AS comments, p.view_count AS views, left(p.text_content, 80) AS text
FROM data_downloads d JOIN posts p ON p.id = d.post_id
WHERE d.run_id = %(run_id)s
ORDER BY coalesce(p.like_count, 0) + coalesce(p.reaction_count, 0) DESC, p.id
LIMIT %(n)s
"""
_INSERT_RUN = """
INSERT INTO download_runs (id, status, source_kind, script_name, platform, format, source_path, source_sha256,
                           source_bytes, captured_at, captured_at_source, system_info, dagster_run_id, started_at)
VALUES (%(id)s, 'running', %(source_kind)s, %(script_name)s, %(platform)s, %(format)s, %(source_path)s,
        %(sha)s, %(bytes)s, %(captured_at)s, %(captured_at_source)s, %(system_info)s, %(dagster_run_id)s, %(started_at)s)
"""
_COMPLETE_RUN = """
UPDATE download_runs SET status = 'completed', completed_at = greatest(clock_timestamp(), started_at),
  platform = %(platform)s, format = coalesce(%(format)s, format),
  captured_at = %(captured_at)s, captured_at_source = %(captured_at_source)s,
  posts_fetched = %(fetched)s, posts_new = %(new)s, posts_updated = %(updated)s, snapshots_new = %(snaps)s,
  comments_upserted = %(comments)s, records_rejected = %(rejected)s, error_message = %(error)s
WHERE id = %(id)s
"""


def existing_run_for_hash(conn: Connection, sha: str) -> str | None:
    return conn.execute(
        text("SELECT id FROM download_runs WHERE source_sha256 = :s AND status IN ('running', 'completed') "
             "ORDER BY started_at LIMIT 1"), {"s": sha}).scalar()


def _create_run(conn: Connection, source: RunSource, now: datetime) -> str:
    params = {
        "source_kind": source.source_kind, "script_name": source.script_name, "platform": source.platform,
        "format": source.format, "source_path": source.source_path, "sha": source.source_sha256,
        "bytes": source.source_bytes, "captured_at": _utc(source.captured_at) or now,
        "captured_at_source": source.captured_at_source, "dagster_run_id": source.dagster_run_id,
        "system_info": json.dumps(system_info(**source.extra_info), default=str), "started_at": now,
    }

    def attempt() -> str:
        (run_id,) = allocate_ids(conn, "download_runs", 1)
        _x(conn, _INSERT_RUN, {**params, "id": run_id})
        return run_id

    return retry_on_id_collision(conn, "download_runs", attempt)


def _merge(conn: Connection, raw_conn, run_id: str, source: RunSource, stager: _Stager,
           now: datetime) -> ImportResult:
    track = bool(source.track)
    p = {"run_id": run_id, "source_path": source.source_path, "track": track, "now": now}
    res = ImportResult(run_id=run_id, status="completed")
    for sql in _MERGE_PROFILES:
        _x(conn, sql)
    res.profiles_new = _insert_with_ids(conn, raw_conn, "profiles", "_new_prof", _INSERT_PROFILES)
    for sql in _MERGE_POSTS:
        _x(conn, sql)
    res.posts_updated = _x(conn, _UPDATE_POSTS, p).rowcount
    _x(conn, _NEW_POSTS)
    res.posts_new = _insert_with_ids(conn, raw_conn, "posts", "_new_post", _INSERT_POSTS, p)
    _x(conn, _NEW_STUBS)
    res.posts_new += _insert_with_ids(conn, raw_conn, "posts", "_new_stub", _INSERT_STUBS, p)
    _x(conn, _NEW_SNAPS)
    res.snapshots_new = _insert_with_ids(conn, raw_conn, "data_downloads", "_new_snap", _INSERT_SNAPS, p)
    for sql in _MERGE_MEDIA:
        _x(conn, sql)
    res.media_upserted = _insert_with_ids(conn, raw_conn, "post_media", "_new_media", _INSERT_MEDIA)
    updated_comments = 0
    for i, sql in enumerate(_MERGE_COMMENTS):
        r = _x(conn, sql)
        if i == 1:
            updated_comments = r.rowcount
    new_comments = _insert_with_ids(conn, raw_conn, "comments", "_new_cmt", _INSERT_COMMENTS)
    _x(conn, _LINK_REPLIES)
    res.comments_upserted = updated_comments + new_comments
    for sql in _MERGE_HASHTAGS:
        _x(conn, sql)
    _insert_with_ids(conn, raw_conn, "hashtags", "_new_tag", _INSERT_HASHTAGS)
    _x(conn, _NEW_REJECTS)
    res.records_rejected = _insert_with_ids(conn, raw_conn, "rejected_records", "_new_rej", _INSERT_REJECTS, p)
    res.duplicates = _x(conn, "SELECT count(*) FROM _new_rej WHERE kind = 'duplicate'").scalar()
    res.rejected = [dict(r) for r in _x(conn, "SELECT record_index, field, reason FROM _new_rej ORDER BY rn LIMIT 20").mappings()]
    res.posts_fetched = stager.posts
    return res


def load_records(engine: Engine, records: Iterable[Any], source: RunSource, *,
                 progress: ProgressFn | None = None, bytes_read: Callable[[], int] | None = None,
                 now: datetime | None = None,
                 after_merge: Callable[[Connection, str], str | None] | None = None) -> ImportResult:
    """Load a stream of parser records as one download run, all or nothing.

    Raises :class:`ImportFailed` (or the parser's own error) and stores nothing when the stream
    fails; returns ``status="already_imported"`` when ``source.source_sha256`` was loaded before.
    ``after_merge(conn, run_id)`` runs inside the same transaction after the merge (check-backs
    advance their schedules there); a string it returns becomes the run's ``error_message``.
    """
    t0 = time.perf_counter()
    now = _utc(now) or datetime.now(timezone.utc)
    with engine.connect() as conn:
        if source.source_sha256:
            prev = existing_run_for_hash(conn, source.source_sha256)
            conn.rollback()
            if prev:
                return _already(prev, source)
        try:
            with conn.begin():
                try:
                    run_id = _create_run(conn, source, now)
                except IntegrityError as exc:
                    # a concurrent import of the same file committed first
                    if "idx_runs_source_sha256" in str(exc.orig) and source.source_sha256:
                        raise _AlreadyImported() from None
                    raise
                raw_conn = conn.connection.driver_connection
                _x(conn, "SET LOCAL work_mem = '64MB'")
                with raw_conn.cursor() as cur:
                    cur.execute(_STAGING_DDL)
                stager = _Stager(raw_conn, source, now)
                for rec in records:
                    stager.add(rec)
                    if progress is not None and stager.buffered_records == 0:
                        progress(stager.records, bytes_read() if bytes_read else 0)
                stager.flush()
                if progress is not None:
                    progress(stager.records, bytes_read() if bytes_read else 0)
                res = _merge(conn, raw_conn, run_id, source, stager, now)
                run_error = after_merge(conn, run_id) if after_merge is not None else None
                if stager.with_own_time and not stager.without_own_time:
                    cap_src, cap_at = "record", stager.record_times[0]
                else:
                    cap_src, cap_at = source.captured_at_source, _utc(source.captured_at) or now
                fmt = source.format or (max(stager.formats, key=stager.formats.get) if stager.formats else None)
                plat = source.platform or (max(stager.platforms, key=stager.platforms.get) if stager.platforms else None)
                _x(conn, _COMPLETE_RUN, {
                    "id": run_id, "platform": plat, "format": fmt, "captured_at": cap_at,
                    "captured_at_source": cap_src, "fetched": res.posts_fetched, "new": res.posts_new,
                    "updated": res.posts_updated, "snaps": res.snapshots_new, "comments": res.comments_upserted,
                    "rejected": res.records_rejected, "error": run_error})
                res.preview = [dict(r) for r in _x(conn, _PREVIEW, {"run_id": run_id, "n": PREVIEW_ROWS}).mappings()]
        except _AlreadyImported:
            with engine.connect() as c2:
                prev = existing_run_for_hash(c2, source.source_sha256 or "")
            return _already(prev or "an earlier run", source)
    res.source_path, res.source_sha256, res.source_bytes = source.source_path, source.source_sha256, source.source_bytes
    res.format, res.platform, res.captured_at, res.captured_at_source = fmt, plat, cap_at, cap_src
    res.records_parsed = stager.records
    res.seconds = time.perf_counter() - t0
    res.message = res.summary()
    return res


class _AlreadyImported(Exception):
    pass


def _already(run_id: str, source: RunSource) -> ImportResult:
    name = source.source_path or "this data"
    return ImportResult(run_id=run_id, status="already_imported", source_path=source.source_path,
                        source_sha256=source.source_sha256, source_bytes=source.source_bytes,
                        message=f"{name}: already imported as {run_id} (same SHA-256); nothing changed")


# ----------------------------------------------------------------------------- files


def _proc_rchar() -> Callable[[], int] | None:
    """Bytes read by this process so far (Linux), for a progress bar without touching the parser."""
    try:
        with open("/proc/self/io", "rb") as f:
            f.read()
    except OSError:
        return None

    def read() -> int:
        with open("/proc/self/io", "rb") as f:
            for line in f:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
        return 0

    return read


def resolve_capture_time(path: str | os.PathLike, cli_time: datetime | None,
                         now: datetime) -> tuple[datetime, str]:
    """Fallback capture time for records without their own: file name → ``--captured-at`` →
    import time."""
    from postpulse.ingest.timeparse import capture_time_from_filename

    ft = capture_time_from_filename(os.fspath(path))
    if ft is not None:
        return _utc(ft), "filename"
    if cli_time is not None:
        return _utc(cli_time), "cli"
    return now, "import_time"


def import_file(engine: Engine, path: str | os.PathLike, *, format: str | None = None,
                captured_at: datetime | None = None, mapping_paths: Iterable[str | os.PathLike] = (),
                source_kind: str = "file", track: bool = False, dagster_run_id: str | None = None,
                progress: ProgressFn | None = None, now: datetime | None = None,
                records_filter: Callable[[Iterator[Any]], Iterator[Any]] | None = None) -> ImportResult:
    """Import one file as one download run (see the module docstring)."""
    from postpulse.ingest import iter_file
    from postpulse.ingest.readers import FileReadError

    path = Path(path)
    if not path.exists():
        raise FileReadError(path, "file not found", fix="check the path")
    if path.is_dir():
        raise FileReadError(path, "is a directory, not a file")
    now = _utc(now) or datetime.now(timezone.utc)
    try:
        sha, size = sha256_file(path)
    except OSError as exc:
        raise FileReadError(path, f"cannot read: {exc.strerror or exc}") from None
    fallback, fallback_src = resolve_capture_time(path, captured_at, now)
    source = RunSource(source_kind=source_kind, source_path=str(path.resolve()), source_sha256=sha,
                       source_bytes=size, format=format, captured_at=fallback, captured_at_source=fallback_src,
                       script_name="postpulse import", dagster_run_id=dagster_run_id, track=track)
    rchar = _proc_rchar() if progress is not None else None
    base = rchar() if rchar else 0

    def bytes_read() -> int:
        return min(size, rchar() - base) if rchar else 0

    mapping_paths = tuple(mapping_paths)
    # the reference time for relative posted times: the capture time we will use
    records = iter_file(path, format, mapping_paths=mapping_paths, captured_at=fallback)
    if records_filter is not None:
        records = records_filter(records)
    return load_records(engine, records, source, progress=progress, bytes_read=bytes_read, now=now)


def import_file_as_pull(engine: Engine, path: str | os.PathLike, *, source_kind: str, platform: str | None,
                        apify_run_id: str | None = None, actor_id: str | None = None, track: bool = False,
                        dagster_run_id: str | None = None, now: datetime | None = None) -> ImportResult:
    """Import a dataset this process just downloaded (Apify / sandbox pull).

    Unlike a user's file, a pull is never "already imported": two pulls may return the same
    bytes (nothing changed on the platform) and the second is still a new capture, i.e. new
    snapshots. The file's SHA-256 is kept in ``system_info.file_sha256``; ``source_sha256`` (the
    file-dedup key) stays empty.
    """
    from postpulse.ingest import iter_file

    path = Path(path)
    now = _utc(now) or datetime.now(timezone.utc)
    sha, size = sha256_file(path)
    fallback, fallback_src = resolve_capture_time(path, None, now)
    source = RunSource(source_kind=source_kind, source_path=str(path.resolve()), source_sha256=None,
                       source_bytes=size, platform=platform, captured_at=fallback,
                       captured_at_source=fallback_src, script_name=f"postpulse {source_kind} pull",
                       dagster_run_id=dagster_run_id, track=track,
                       extra_info={"file_sha256": sha, "apify_run_id": apify_run_id, "actor_id": actor_id})
    return load_records(engine, iter_file(path, captured_at=fallback), source, now=now)


__all__ = ["ImportFailed", "ImportResult", "RunSource", "import_file", "import_file_as_pull", "load_records", "preview_markdown",
           "resolve_capture_time", "sha256_file", "system_info"]
