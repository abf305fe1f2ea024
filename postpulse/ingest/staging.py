"""Staging: parser records -> rows of temporary tables, COPYed in bounded chunks.

:class:`Stager` validates and converts each record (counts must be whole, non-negative and
not absurd; text PostgreSQL can store) and buffers rows per staging table; every
``CHUNK_RECORDS`` records or ``CHUNK_BYTES`` of rows it hands them to :class:`CopyWriter`,
which COPYs them on a background thread while parsing goes on (and there runs the per-chunk
merge, :func:`postpulse.ingest.merge.merge_chunk`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format

from postpulse.checkbacks.schedule import DEFAULT_SCHEDULES, STANDARD, offsets_seconds, start_state
from postpulse.ingest import gil_handoff
from postpulse.ingest.records import COUNT_FIELDS
from postpulse.ingest.store_values import JSON_OPTIONS, clean_text, jsonb_text, storable
from postpulse.timeutil import as_utc

if TYPE_CHECKING:
    from postpulse.ingest.runs import RunSource

CHUNK_RECORDS = 5000
FIRST_CHUNK_DIVISOR = 5
"""The first chunk holds ``CHUNK_RECORDS // FIRST_CHUNK_DIVISOR`` records, so that the server
starts storing after a fifth of the parsing a full chunk takes (it waits for the first chunk
while the parser runs alone); the result does not depend on the chunking."""
CHUNK_BYTES = 32 * 1024 * 1024
MAX_COUNT = 10**15  # a count above this is not a real metric ("absurd"): rejected

CONTENT_TYPES = {
    "text",
    "image",
    "video",
    "carousel",
    "story",
    "reel",
    "mixed",
    "document",
    "article",
    "poll",
    "unknown",
}
MEDIA_TYPES = {"image", "video", "gif", "document", "audio", "carousel", "unknown"}


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


POSTED_AFTER_CAPTURE_LIMIT = timedelta(days=366)
"""A post dated more than this after its capture time is rejected: no capture precedes a post
by a year (a wrong date in the record, or a capture time far off). Closer dates are kept, the
snapshot flagged ``captured_before_post``."""


def _check_posted_before_capture(posted_at: datetime | None, captured: datetime, fallback: bool) -> None:
    if posted_at is None:
        return
    posted_at = as_utc(posted_at)
    if posted_at - captured <= POSTED_AFTER_CAPTURE_LIMIT:
        return
    days = (posted_at - captured).days
    whose = (
        "the run's capture time (file name, --captured-at or the import time)"
        if fallback
        else "its capture time"
    )
    raise _BadRecord(
        "posted_at",
        f"posted_at {posted_at:%Y-%m-%d %H:%M} is {days:,} days after {whose} {captured:%Y-%m-%d %H:%M}; "
        "a post cannot be captured before it exists (check the date, or --captured-at)",
    )


def web_url(value: Any) -> Any:
    """``value`` when it is an http(s) URL, else None: a ``javascript:`` or ``data:`` "URL" from
    the data is not stored where it would be shown (and followed) as a link."""
    if value is None or value.__class__ is not str:
        return value
    if value.lstrip()[:8].lower().startswith(("https://", "http://")):
        return value
    return None


def _same(v: Any) -> Any:
    return v


def _profile_count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT else None


def _excerpt(raw: Any) -> str:
    try:
        s = jsonb_text(raw)
    except Exception:
        s = repr(raw)
    return s[:200]


STAGING_DDL = """
DROP TABLE IF EXISTS stg_post, stg_profile, stg_comment, stg_media, stg_reject, stg_hashtag, _ids, stg_post_c,
  stg_profile_c, _c_prof, _c_new_prof, _c_snap, _c_post, _c_new_post, _created_prof, _created_post;
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
  raw jsonb, seen_at timestamptz, first_seen timestamptz
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
CREATE TEMP TABLE stg_reject (record_index integer, field text, reason text, excerpt text, kind text)
    ON COMMIT DROP;
CREATE TEMP TABLE stg_hashtag (
  idx integer, platform text, name text, post_count bigint, raw jsonb, seen_at timestamptz
) ON COMMIT DROP;
CREATE TEMP TABLE _ids (rn bigint PRIMARY KEY, id text NOT NULL) ON COMMIT DROP;
-- per-chunk merge (postpulse.ingest.merge.merge_chunk): each chunk's posts and profiles are
-- COPYed here, their new rows merged, then appended to stg_post / stg_profile
CREATE TEMP TABLE stg_post_c (LIKE stg_post) ON COMMIT DROP;
CREATE TEMP TABLE stg_profile_c (LIKE stg_profile) ON COMMIT DROP;
CREATE TEMP TABLE _c_prof ON COMMIT DROP AS SELECT s.*, ''::text AS pkey, s.first_seen AS first_seen_all
  FROM stg_profile s WITH NO DATA;
CREATE TEMP TABLE _c_new_prof (rn bigint, platform text, pkey text) ON COMMIT DROP;
CREATE TEMP TABLE _c_snap (idx integer, platform text, platform_post_id text, captured_at timestamptz,
    rn bigint)
  ON COMMIT DROP;
CREATE TEMP TABLE _c_post (idx integer, platform text, platform_post_id text, captured_at timestamptz,
                           first_seen timestamptz) ON COMMIT DROP;
CREATE TEMP TABLE _c_new_post (rn bigint, idx integer, first_seen timestamptz, captured_at timestamptz)
    ON COMMIT DROP;
CREATE TEMP TABLE _created_prof (id text) ON COMMIT DROP;
CREATE TEMP TABLE _created_post (id text) ON COMMIT DROP;
"""

CHUNK_TABLES = {"stg_post": "stg_post_c", "stg_profile": "stg_profile_c"}
"""With a per-chunk merge, these staging tables receive each chunk in their ``_c`` twin first."""

_COPY_COLUMNS = {
    "stg_post": (
        "idx",
        "platform",
        "platform_post_id",
        "full_urn",
        "url",
        "a_uid",
        "a_username",
        "text_content",
        "post_type",
        "content_type",
        "posted_at",
        "posted_approx",
        "hashtags",
        "mentions",
        "is_sponsored",
        "reactions",
        "likes",
        "comments",
        "shares",
        "views",
        "saves",
        "impressions",
        "reach",
        "clicks",
        "quotes",
        "stats",
        "raw",
        "captured_at",
        "media_urls",
        "next_check_at",
        "checks_completed",
        "track_complete",
    ),
    "stg_profile": (
        "idx",
        "platform",
        "uid",
        "username",
        "display_name",
        "profile_url",
        "follower_count",
        "following_count",
        "post_count",
        "is_verified",
        "bio",
        "raw",
        "seen_at",
        "first_seen",
    ),
    "stg_comment": (
        "idx",
        "sub",
        "platform",
        "pcid",
        "platform_post_id",
        "parent_pcid",
        "a_uid",
        "a_username",
        "text_content",
        "posted_at",
        "like_count",
        "reply_count",
        "raw",
        "seen_at",
    ),
    "stg_media": (
        "idx",
        "platform",
        "platform_post_id",
        "media_type",
        "url",
        "thumbnail_url",
        "width",
        "height",
        "duration_s",
        "position",
    ),
    "stg_reject": ("record_index", "field", "reason", "excerpt", "kind"),
    "stg_hashtag": ("idx", "platform", "name", "post_count", "raw", "seen_at"),
}


class Stager:
    """Turns records into staging rows and COPYs them in chunks."""

    def __init__(self, raw_conn, source: RunSource, now: datetime, writer: CopyWriter | None = None):
        self.raw = raw_conn
        self.writer = writer
        self.source = source
        self.now = now
        self.fallback = as_utc(source.captured_at) or now
        self.buffers: dict[str, list[tuple]] = {k: [] for k in _COPY_COLUMNS}
        self._chunk_profiles: dict[tuple, int] = {}  # the merge's profile key -> its row in the buffer
        self.buffered_bytes = 0
        self.buffered_records = 0
        self.chunk_records = max(1, CHUNK_RECORDS // FIRST_CHUNK_DIVISOR)
        self.records = 0
        self.posts = 0
        self.posts_without_username = 0  # their author_username may come from the profile (merge)
        self.rejected = 0
        self.first_rejected: tuple[int, str | None, str] | None = None  # (record index, field, reason)
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
            self._reject(
                rec.record_index, rec.field, rec.reason, rec.excerpt, getattr(rec, "kind", "invalid")
            )
        elif kind is HashtagStatsRecord:
            seen = as_utc(rec.captured_at) or self.fallback
            name = clean_text(rec.name or "").lstrip("#").strip().lower()
            if name:
                self._buf(
                    "stg_hashtag",
                    (
                        rec.record_index,
                        rec.platform,
                        name[:200],
                        _profile_count(rec.posts_count),
                        jsonb_text(rec.raw),
                        seen,
                    ),
                )
        if self.buffered_records >= self.chunk_records or self.buffered_bytes >= CHUNK_BYTES:
            self.flush()

    def _buf(self, table: str, row: tuple) -> None:
        self.buffers[table].append(row)

    def _reject(self, index: int, fld: str | None, reason: str, excerpt: str, kind: str) -> None:
        self.rejected += 1
        if self.first_rejected is None:
            self.first_rejected = (index, clean_text(fld), clean_text(reason) or "rejected")
        self._buf(
            "stg_reject",
            (
                index,
                clean_text(fld),
                clean_text(reason) or "rejected",
                storable(clean_text(excerpt) or "")[:200],
                kind,
            ),
        )

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
        uid = prof.platform_user_id
        if uid is not None and (uid.__class__ is not str or "\x00" in uid):
            uid = clean_text(uid)
        uid = uid or None
        username = prof.username
        if username is not None and (username.__class__ is not str or "\x00" in username):
            username = clean_text(username)
        username = username or None
        if uid is None and username is None:
            return None, None
        if uid and len(uid) > 400 or username and len(username) > 400:
            return None, None
        # The merge keeps one row per profile, the latest (seen_at, idx), and the earliest time
        # it was seen: a chunk's earlier rows of the same author are dropped here already (an
        # author of 1,000 posts is one row, not 1,000 rows to encode, COPY, parse as jsonb and
        # sort), their time kept in ``first_seen``. Rows of one record (a post's author, then its
        # comments' authors) tie on (seen_at, idx): the first one is kept, so the merge never has
        # to break a tie. The key is the merge's (uid, else the username).
        rows = self.buffers["stg_profile"]
        key = (prof.platform, uid) if uid is not None else (prof.platform, None, username)
        at = self._chunk_profiles.get(key)
        first_seen = seen
        if at is not None:
            kept = rows[at]
            if (seen, index) <= (kept[-2], kept[0]):
                if seen < kept[-1]:
                    rows[at] = kept[:-1] + (seen,)
                return uid, username
            first_seen = kept[-1]
        fc, gc, pc = prof.follower_count, prof.following_count, prof.post_count
        if fc is not None and not (fc.__class__ is int and 0 <= fc <= MAX_COUNT):
            fc = _profile_count(fc)
        if gc is not None and not (gc.__class__ is int and 0 <= gc <= MAX_COUNT):
            gc = _profile_count(gc)
        if pc is not None and not (pc.__class__ is int and 0 <= pc <= MAX_COUNT):
            pc = _profile_count(pc)
        raw = prof.raw or {}
        iv = prof.is_verified
        row = (
            index,
            prof.platform,
            uid,
            username,
            clean_text(prof.display_name),
            web_url(clean_text(prof.profile_url)),
            fc,
            gc,
            pc,
            iv if iv is True or iv is False else None,
            clean_text(prof.bio),
            jsonb_text(raw) if raw else None,
            seen,
            first_seen,
        )
        if at is None:
            self._chunk_profiles[key] = len(rows)
            rows.append(row)
        else:
            rows[at] = row
        return uid, username

    def _post(self, rec: Any) -> None:
        pid = rec.platform_post_id
        if pid is None or pid.__class__ is not str or "\x00" in pid:
            pid = clean_text(pid)
        if not pid or not pid.strip():
            raise _BadRecord("platform_post_id", "missing post id")
        if len(pid) > 400:
            raise _BadRecord("platform_post_id", f"post id longer than 400 characters ({len(pid)})")
        rec.url = web_url(rec.url)
        if rec.media:
            for m in rec.media:
                m.thumbnail_url = web_url(m.thumbnail_url)
            rec.media = [m for m in rec.media if web_url(m.url)]
        c = rec.counts
        counts = (
            c.reactions,
            c.likes,
            c.comments,
            c.shares,
            c.views,
            c.saves,
            c.impressions,
            c.reach,
            c.clicks,
            c.quotes,
        )  # the order of COUNT_FIELDS
        for v in counts:
            if v is not None and not (v.__class__ is int and 0 <= v <= MAX_COUNT):
                counts = [_count(getattr(c, n), n) for n in COUNT_FIELDS]  # raises naming the field
                break
        own = rec.captured_at
        if own is not None and own.tzinfo is not UTC:
            own = as_utc(own)
        _check_posted_before_capture(rec.posted_at, own or self.fallback, own is None)
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
            raw_json = orjson.dumps(raw, option=JSON_OPTIONS)
            if b"\\u0000" in raw_json:
                raise TypeError
            raw_text = raw_json.decode()
            clean = True
        except (TypeError, orjson.JSONEncodeError):
            raw_text = jsonb_text(raw)
            clean = False  # odd Unicode somewhere in the record: clean every string
        posted_at = rec.posted_at
        if posted_at is not None and posted_at.tzinfo is not UTC:
            posted_at = as_utc(posted_at)
        a_uid, a_username = self._profile(rec.author, captured, rec.record_index)
        if a_username is None:
            self.posts_without_username += 1
        content_type = (rec.content_type or "unknown").lower()
        if content_type not in CONTENT_TYPES:
            content_type = "unknown"
        if self.source.track:
            nca, done, complete = self._schedule_state(rec.platform, posted_at, captured)
        else:
            nca = done = complete = None
        if clean:
            fix = clean_text
            text = rec.text
            if text is not None and (text.__class__ is not str or "\x00" in text):
                text = clean_text(text)
            hashtags = jsonb_text(list(rec.hashtags)) if rec.hashtags else "[]"
            mentions = jsonb_text(list(rec.mentions)) if rec.mentions else "[]"
            media_urls = jsonb_text([clean_text(m.url) for m in rec.media if m.url]) if rec.media else "[]"
        else:

            def fix(v: Any) -> Any:
                return storable(clean_text(v))

            pid = storable(pid)
            a_uid, a_username = storable(a_uid), storable(a_username)
            text = fix(rec.text)
            hashtags = jsonb_text(storable(list(rec.hashtags or [])))
            mentions = jsonb_text(storable(list(rec.mentions or [])))
            media_urls = jsonb_text([storable(clean_text(m.url)) for m in rec.media if m.url])
        stats = rec.platform_stats
        row = (
            rec.record_index,
            rec.platform,
            pid,
            fix(rec.full_urn),
            fix(rec.url),
            a_uid,
            a_username,
            text,
            fix(rec.post_type),
            content_type,
            posted_at,
            bool(rec.posted_at_approximate),
            hashtags,
            mentions,
            rec.is_sponsored if rec.is_sponsored is True or rec.is_sponsored is False else None,
            *counts,
            jsonb_text(stats) if stats else "{}",
            raw_text,
            captured,
            media_urls,
            nca,
            done,
            complete,
        )
        self.buffers["stg_post"].append(row)
        self.buffered_bytes += len(raw_text) + len(text or "")
        self.posts += 1
        platforms = self.platforms
        platforms[rec.platform] = platforms.get(rec.platform, 0) + 1
        fmt = getattr(rec, "format", None)
        if fmt:
            self.formats[fmt] = self.formats.get(fmt, 0) + 1
        fix = _same if clean else storable
        for pos, m in enumerate(rec.media):
            url = clean_text(m.url)
            if not url:
                continue
            mt = (m.media_type or "unknown").lower()
            if mt not in MEDIA_TYPES:
                mt = "unknown"
            w = m.width if isinstance(m.width, int) and 0 < m.width < 2**31 else None
            h = m.height if isinstance(m.height, int) and 0 < m.height < 2**31 else None
            d = (
                float(m.duration_s)
                if isinstance(m.duration_s, (int, float)) and 0 <= m.duration_s < 1e9
                else None
            )
            self._buf(
                "stg_media",
                (
                    rec.record_index,
                    rec.platform,
                    fix(pid),
                    mt,
                    fix(url),
                    fix(clean_text(m.thumbnail_url)),
                    w,
                    h,
                    d,
                    m.position if isinstance(m.position, int) else pos,
                ),
            )
        for sub, cm in enumerate(rec.comments, start=1):
            try:
                self._comment(cm, rec.record_index, sub, pid, captured)
            except _BadRecord:
                continue  # a broken nested comment does not cost the post

    def _standalone_comment(self, rec: Any) -> None:
        captured = as_utc(rec.captured_at) or self.fallback
        if not clean_text(rec.platform_post_id):
            raise _BadRecord("platform_post_id", "comment without the id of its post")
        self._comment(rec, rec.record_index, 0, None, captured)
        self.platforms[rec.platform] = self.platforms.get(rec.platform, 0) + 1

    def _comment(self, cm: Any, index: int, sub: int, post_pid: str | None, captured: datetime) -> None:
        pcid = clean_text(cm.platform_comment_id)
        if not pcid or len(pcid) > 400:
            raise _BadRecord("platform_comment_id", "missing comment id")
        ppid = clean_text(cm.platform_post_id) or post_pid
        if not ppid or len(ppid) > 400:
            raise _BadRecord("platform_post_id", "comment without the id of its post")
        like = cm.like_count if isinstance(cm.like_count, int) and 0 <= cm.like_count <= MAX_COUNT else None
        reply = (
            cm.reply_count if isinstance(cm.reply_count, int) and 0 <= cm.reply_count <= MAX_COUNT else None
        )
        a_uid, a_username = self._profile(cm.author, captured, index)
        raw = cm.raw if isinstance(cm.raw, dict) else {}
        self._buf(
            "stg_comment",
            (
                index,
                sub,
                cm.platform,
                storable(pcid),
                storable(ppid),
                storable(clean_text(cm.parent_platform_comment_id)),
                storable(a_uid),
                storable(a_username),
                storable(clean_text(cm.text)) or "",
                as_utc(cm.posted_at),
                like,
                reply,
                jsonb_text(raw),
                captured,
            ),
        )

    def flush(self) -> None:
        """Hand the buffered rows to the COPY writer (a background thread when one runs, so
        that the server stores chunk *k* while this thread parses chunk *k+1*)."""
        full = {table: rows for table, rows in self.buffers.items() if rows}
        if full:
            self.buffers = {k: [] for k in _COPY_COLUMNS}
            self._chunk_profiles = {}
            if self.writer is not None:
                self.writer.submit(full)
            else:
                _copy_rows(self.raw, full)
        self.buffered_bytes = 0
        self.buffered_records = 0
        self.chunk_records = CHUNK_RECORDS


def side_table_ddl(table: str) -> str:
    """The column definitions of staging table ``table``, as written in :data:`STAGING_DDL`."""
    return STAGING_DDL.split(f"CREATE TEMP TABLE {table} (", 1)[1].split(") ON COMMIT DROP", 1)[0]


def _ddl_column_types(table: str) -> tuple[str, ...]:
    """The PostgreSQL types of ``_COPY_COLUMNS[table]``, read from :data:`STAGING_DDL`."""
    types = dict(col.split() for col in side_table_ddl(table).replace("\n", " ").split(","))
    return tuple(types[c] for c in _COPY_COLUMNS[table])


BINARY_COPY = {table: _ddl_column_types(table) for table in ("stg_post", "stg_profile")}
"""Staging tables COPYed in binary: the server parses no text for their integers, booleans and
timestamps (0.33 -> 0.27 s of server CPU for the ``stg_post`` rows of 20,000 tweets; the jsonb
parse of the raw record is most of what is left). The same values are stored. Their rows hold
only what these types take: ``str`` (text, and JSON text for jsonb), ``int``, ``bool``, aware
``datetime`` or ``None``."""


class _JsonTextBinaryDumper(Dumper):
    """JSON text (a ``str``, already valid for jsonb) in jsonb's binary form: version 1, then the
    text itself; the server parses it exactly as jsonb text input."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode("utf-8")


class _JsonText:
    """Marker type under which :class:`_JsonTextBinaryDumper` is registered (never instantiated;
    the binary COPY picks dumpers by column type)."""


def _copy_table(cur, target: str, table: str, rows: list[tuple], options: tuple[str, ...] = ()) -> None:
    cols = ", ".join(_COPY_COLUMNS[table])  # names from code, never from input
    types = BINARY_COPY.get(table)
    options = (("FORMAT BINARY",) if types else ()) + options
    with cur.copy(
        f"COPY {target} ({cols}) FROM STDIN" + (f" ({', '.join(options)})" if options else "")
    ) as cp:
        if types:
            cp.set_types(types)
        write = cp.write_row
        for row in rows:
            write(row)


def _copy_rows(raw_conn, tables: dict[str, list[tuple]], chunked: bool = False) -> None:
    with raw_conn.cursor() as cur:
        cur.adapters.register_dumper(_JsonText, _JsonTextBinaryDumper)  # this cursor only
        for table, rows in tables.items():
            _copy_table(cur, CHUNK_TABLES.get(table, table) if chunked else table, table, rows)


def copy_side_table(conn, target: str, table: str, rows: list[tuple]) -> None:
    """The COPY of :class:`postpulse.ingest.side_staging.SideStaging` (its own connection, into a
    table created in the same transaction: FREEZE, so that the import's reads of it set no hint
    bits)."""
    with conn.cursor() as cur:
        cur.adapters.register_dumper(_JsonText, _JsonTextBinaryDumper)
        _copy_table(cur, target, table, rows, ("FREEZE",))


def _take_side_chunk(raw_conn, names: dict[str, str], first: bool) -> None:
    """Take a chunk the side connection stored (its rows parsed already): ``stg_post_c`` /
    ``stg_profile_c`` become views of its post and profile tables, so the per-chunk merge reads
    them where they are."""
    stmts = []
    for table, chunk in CHUNK_TABLES.items():
        if first:
            stmts.append(f"DROP TABLE {chunk}")  # the temporary table of STAGING_DDL
        source = names.get(table) or f"{table} WHERE false"  # names from code and SideStaging
        stmts.append(f"CREATE OR REPLACE TEMP VIEW {chunk} AS SELECT * FROM {source}")
    with raw_conn.cursor() as cur:
        cur.execute(";\n".join(stmts))
        while cur.nextset():
            pass


class CopyWriter:
    """COPYs staging chunks on a background thread, one chunk queued at a time (bounded
    memory). The connection is used by this thread only between :meth:`start` and
    :meth:`close`; psycopg releases the GIL while it waits for the server, so parsing and the
    server's work overlap. An error is raised in the caller at the next submit or at close.

    With ``side`` (a :class:`postpulse.ingest.side_staging.SideStaging`), a second thread COPYs
    each chunk's post and profile rows on the side connection first; the import's own backend
    reads them there through views (:func:`_take_side_chunk`; see that module)."""

    def __init__(self, raw_conn, on_chunk: Callable[[], None] | None = None, side=None):
        self.raw = raw_conn
        self.on_chunk = on_chunk
        """Run on this thread after each chunk's COPY (the per-chunk merge: posts and snapshots
        are stored while the next chunk is parsed)."""
        self.side = side
        self._views = False  # stg_post_c / stg_profile_c are views of the side tables (after the first chunk)
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="postpulse-copy", daemon=True)
        self.side_queue: queue.Queue | None = None
        self.side_thread: threading.Thread | None = None
        if side is not None:
            self.side_queue = queue.Queue(maxsize=1)
            self.side_thread = threading.Thread(
                target=self._run_side, name="postpulse-side-copy", daemon=True
            )
        gil_handoff.acquire()
        self._handoff = True  # released once, in close()
        self.thread.start()
        if self.side_thread is not None:
            self.side_thread.start()

    def _run_side(self) -> None:
        while True:
            item = self.side_queue.get()
            if item is None:
                self.queue.put(None)
                return
            if self.error is not None:
                continue  # drain until close()
            try:
                names = self.side.copy(item)
                rest = {t: rows for t, rows in item.items() if t not in CHUNK_TABLES}
                self.queue.put((rest, names))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self.error = exc

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # drain until close(): the producer must never block on a dead writer
            try:
                if type(item) is tuple:  # (rows to COPY here, tables the side connection filled)
                    item, names = item
                    _take_side_chunk(self.raw, names, first=not self._views)
                    self._views = True
                _copy_rows(self.raw, item, chunked=self.on_chunk is not None)
                if self.on_chunk is not None:
                    self.on_chunk()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def submit(self, tables: dict[str, list[tuple]]) -> None:
        self._raise()
        (self.side_queue if self.side_queue is not None else self.queue).put(tables)

    def close(self, *, abort: bool = False) -> None:
        """Wait until every chunk is stored (or, with ``abort``, just stop the threads)."""
        if self.side_thread is not None:
            if self.side_thread.is_alive():
                self.side_queue.put(None)  # passed on to this writer's thread
                self.side_thread.join()
        elif self.thread.is_alive():
            self.queue.put(None)
        self.thread.join()
        if self._handoff:
            self._handoff = False
            gil_handoff.release()
        if not abort:
            self._raise()
            if self._views:  # temporary views outlive the transaction; the side tables do not
                with self.raw.cursor() as cur:
                    cur.execute("DROP VIEW " + ", ".join(CHUNK_TABLES.values()))
                self._views = False
