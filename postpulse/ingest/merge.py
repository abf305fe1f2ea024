"""The set-based merge of one run's staging tables into the store (never row by row).

Profiles, posts, snapshots, media, comments (replies' parents resolved after all comments are
in), hashtag stats and rejected records: ``UPDATE ... FROM`` staging for existing rows and
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` for new ones, whose ids are allocated in bulk
(:func:`postpulse.ids.allocate_ids`, or a server-side pool above ``BULK_IDS`` rows) and retried
with fresh ids on a primary-key collision (:func:`postpulse.ids.retry_on_id_collision`).
"""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from postpulse import ids as _ids_mod
from postpulse.ids import retry_on_id_collision
from postpulse.ingest.runs import PREVIEW_ROWS, ImportResult, RunSource
from postpulse.ingest.staging import Stager
from postpulse.ingest.store_values import run_sql


def allocate_ids(conn: Connection, table: str, n: int, *, prefix: str | None = None) -> list[str]:
    """``n`` distinct ids not present in ``table`` (the guarantee of
    :func:`postpulse.ids.allocate_ids`, which callers still wrap in ``retry_on_id_collision``),
    drawn in bulk as a run of consecutive ids from a random start (``os.urandom``, the CSPRNG
    behind ``secrets``): the check against the table is one index range scan instead of one
    probe per id, and the rows' primary keys go into neighbouring index pages. Ids of the run
    already taken are skipped."""
    if table not in _ids_mod.PREFIXES:
        raise ValueError(f"unknown table {table!r} for id allocation")
    prefix = prefix or _ids_mod.PREFIXES[table]
    digits = _ids_mod.HEX_DIGITS
    space = 16**digits
    if 4 * (n + n // 8 + 4) > space:  # a (test-shrunk) id space too small for runs: random ids
        return _ids_mod.allocate_ids(conn, table, n, prefix=prefix)
    chosen: list[str] = []
    for _ in range(_ids_mod.MAX_ROUNDS):
        need = n - len(chosen)
        if need <= 0:
            break
        k = need + need // 8 + 4
        start = int.from_bytes(os.urandom(8), "big") % (space - k)
        cands = [f"{prefix}-{i:0{digits}x}" for i in range(start, start + k)]
        # fixed-width lowercase hex: the index order of the ids is their numeric order; ids the
        # range would miss under an odd collation still fail the insert (and are retried).
        # Table names come from PREFIXES (code), never from input.
        taken = set(
            run_sql(
                conn,
                f"SELECT id FROM {table} WHERE id >= %(lo)s AND id <= %(hi)s",
                {"lo": cands[0], "hi": cands[-1]},
            ).scalars()
        )
        taken.update(chosen)
        for cand in cands:
            if len(chosen) >= n:
                break
            if cand not in taken:
                chosen.append(cand)
    if len(chosen) < n:
        raise _ids_mod.IdSpaceExhausted(
            f"could not allocate {n} free ids for {table} with {digits} hex digits"
        )
    return chosen


BULK_IDS = 50_000
"""Above this many new rows, ids are allocated in a server-side pool, chunk by chunk, so that
memory stays bounded (a 1 GB file has millions of snapshots)."""


def _pool_ids(conn: Connection, raw_conn, table: str, n: int) -> None:
    """Fill ``_ids`` with ``n`` distinct ids not present in ``table`` (same guarantee as
    :func:`postpulse.ids.allocate_ids`, checked in the database, chunk by chunk)."""
    ids_mod = _ids_mod
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
            cur.execute(
                f"INSERT INTO _idpool SELECT DISTINCT c.id FROM _idcand c "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = c.id) ON CONFLICT DO NOTHING"
            )
            have += cur.rowcount
        if have < n:
            raise ids_mod.IdSpaceExhausted(f"could not allocate {n} free ids for {table}")
        cur.execute("TRUNCATE _ids")
        cur.execute("INSERT INTO _ids (rn, id) SELECT row_number() OVER (ORDER BY id), id FROM _idpool")


def _insert_with_ids(
    conn: Connection,
    raw_conn,
    table: str,
    new_table: str,
    insert_sql: str,
    params: dict | None = None,
    n: int | None = None,
    *,
    plain_first: tuple[str, str] | None = None,
    counted: bool = False,
) -> int:
    """Insert the rows listed in ``new_table`` (numbered ``rn`` 1..n; ``n`` counted here unless
    the caller knows it) under fresh ids (an array parameter, or the server-side pool in ``_ids``
    above ``BULK_IDS`` rows); retried with new ids when one collides with a concurrent writer's.

    ``plain_first = (on_conflict_clause, natural_key_constraint)``: where a conflict on the natural
    key is rare, the insert runs first without ``on_conflict_clause`` (a speculative insertion costs
    ~20 % more per row), and only when that violates ``natural_key_constraint`` again with it.
    ``counted``: the statement returns the number of rows inserted as its one value (an insert in
    a data-modifying CTE) instead of reporting them as its row count."""
    if n is None:
        n = run_sql(conn, f"SELECT count(*) FROM {new_table}").scalar()
    if not n:
        return 0

    if _IDS_JOIN not in insert_sql:
        raise ValueError(f"the insert into {table} does not read its ids from _ids")
    if plain_first is not None and plain_first[0] not in insert_sql:
        raise ValueError(f"the insert into {table} has no {plain_first[0]!r}")

    def execute(sql: str, values: dict | None) -> int:
        result = run_sql(conn, sql, values)
        return int(result.scalar()) if counted else result.rowcount

    def run(sql: str, values: dict | None) -> int:
        if plain_first is None:
            return execute(sql, values)
        clause, constraint = plain_first
        inner = conn.begin_nested()
        try:
            rows = execute(sql.replace(clause, ""), values)
        except IntegrityError as exc:
            inner.rollback()
            if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) != constraint:
                raise  # an id collision (retried below with new ids) or a real error
            return execute(sql, values)
        inner.commit()
        return rows

    def attempt() -> int:
        if n > BULK_IDS:
            _pool_ids(conn, raw_conn, table, n)
            return run(insert_sql, params)
        # the ids as an array parameter: no TRUNCATE + COPY of ``_ids`` (two round trips)
        return run(
            insert_sql.replace(_IDS_JOIN, _IDS_UNNEST),
            {**(params or {}), "ids": allocate_ids(conn, table, n)},
        )

    return retry_on_id_collision(conn, table, attempt)


_IDS_JOIN = "JOIN _ids i USING (rn)"
_IDS_UNNEST = "JOIN unnest(%(ids)s::text[]) WITH ORDINALITY AS i(id, rn) USING (rn)"
"""Up to ``BULK_IDS`` rows, the inserts take their ids from this array (numbered 1..n like
``_ids``) instead of the ``_ids`` table."""


_MERGE_PROFILES = [
    """CREATE TEMP TABLE _prof ON COMMIT DROP AS
       SELECT DISTINCT ON (platform, pkey) *, min(first_seen) OVER (PARTITION BY platform, pkey)
           AS first_seen_all
       FROM (SELECT s.*, coalesce(s.uid, 'u:' || lower(s.username)) AS pkey FROM stg_profile s) x
       ORDER BY platform, pkey, seen_at DESC, idx DESC""",
    """UPDATE profiles p SET
         username = coalesce(s.username, p.username),
         display_name = coalesce(s.display_name, p.display_name),
         profile_url = coalesce(s.profile_url, p.profile_url),
         bio = coalesce(s.bio, p.bio),
         follower_count = CASE WHEN s.seen_at >= p.last_seen_at THEN coalesce(s.follower_count,
             p.follower_count) ELSE coalesce(p.follower_count, s.follower_count) END,
         following_count = CASE WHEN s.seen_at >= p.last_seen_at THEN coalesce(s.following_count,
             p.following_count) ELSE coalesce(p.following_count, s.following_count) END,
         post_count = CASE WHEN s.seen_at >= p.last_seen_at THEN coalesce(s.post_count, p.post_count)
             ELSE coalesce(p.post_count, s.post_count) END,
         is_verified = coalesce(s.is_verified, p.is_verified),
         raw_json = CASE WHEN s.seen_at >= p.last_seen_at THEN coalesce(s.raw, p.raw_json)
             ELSE coalesce(p.raw_json, s.raw) END,
         first_seen_at = least(p.first_seen_at, s.first_seen_all),
         last_seen_at = greatest(p.last_seen_at, s.seen_at)
       FROM _prof s
       WHERE p.platform = s.platform AND p.profile_key = s.pkey
         AND NOT EXISTS (SELECT 1 FROM _created_prof c WHERE c.id = p.id)
         AND (p.last_seen_at IS DISTINCT FROM greatest(p.last_seen_at, s.seen_at)
              OR p.first_seen_at IS DISTINCT FROM least(p.first_seen_at, s.first_seen_all)
              OR (s.display_name IS NOT NULL AND p.display_name IS NULL)
              OR (s.follower_count IS NOT NULL AND p.follower_count IS NULL))""",
    # profiles created by this run's chunk merges: the values the whole-file insert would give
    """UPDATE profiles p SET (platform_user_id, username, display_name, profile_url, bio, follower_count,
                             following_count, post_count, is_verified, raw_json, first_seen_at, last_seen_at)
         = (s.uid, s.username, s.display_name, s.profile_url, s.bio, s.follower_count, s.following_count,
            s.post_count, s.is_verified, s.raw, s.first_seen_all, s.seen_at)
       FROM _created_prof c, _prof s
       WHERE c.id = p.id AND p.platform = s.platform AND p.profile_key = s.pkey
         AND (p.platform_user_id, p.username, p.display_name, p.profile_url, p.bio, p.follower_count,
              p.following_count, p.post_count, p.is_verified, p.raw_json, p.first_seen_at, p.last_seen_at)
             IS DISTINCT FROM (s.uid, s.username, s.display_name, s.profile_url, s.bio, s.follower_count,
              s.following_count, s.post_count, s.is_verified, s.raw, s.first_seen_all, s.seen_at)""",
    """CREATE TEMP TABLE _new_prof ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY s.platform, s.pkey) AS rn, s.platform, s.pkey
       FROM _prof s
       WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.platform = s.platform
           AND p.profile_key = s.pkey)""",
]


def _insert_profiles(new: str, staged: str) -> str:
    """INSERT of the profiles listed in ``new`` (with their ids in _ids), values from ``staged``."""
    return f"""
INSERT INTO profiles (id, platform, platform_user_id, username, display_name, profile_url, bio,
                      follower_count, following_count, post_count, is_verified, raw_json,
                      first_seen_at, last_seen_at)
SELECT i.id, s.platform, s.uid, s.username, s.display_name, s.profile_url, s.bio, s.follower_count,
       s.following_count, s.post_count, s.is_verified, s.raw, s.first_seen_all, s.seen_at
FROM {new} n JOIN _ids i USING (rn) JOIN {staged} s ON s.platform = n.platform AND s.pkey = n.pkey
ON CONFLICT (platform, profile_key) DO NOTHING"""


_INSERT_PROFILES = _insert_profiles("_new_prof", "_prof")

# one snapshot per (post, capture time): the first record in file order wins
_MERGE_POSTS = [
    """CREATE TEMP TABLE _snap ON COMMIT DROP AS
       SELECT DISTINCT ON (platform, platform_post_id, captured_at) idx, platform, platform_post_id,
           captured_at
       FROM stg_post ORDER BY platform, platform_post_id, captured_at, idx""",
    """INSERT INTO stg_reject (record_index, field, reason, excerpt, kind)
       SELECT s.idx, 'platform_post_id',
              'duplicate of record ' || k.idx || ' (post ' || s.platform_post_id ||
                  ', same capture time; the first one is kept)',
              left(s.raw::text, 200), 'duplicate'
       FROM stg_post s JOIN _snap k USING (platform, platform_post_id, captured_at)
       WHERE s.idx <> k.idx""",
    """CREATE TEMP TABLE _post ON COMMIT DROP AS
       SELECT DISTINCT ON (platform, platform_post_id) idx, platform, platform_post_id, captured_at,
              min(captured_at) OVER (PARTITION BY platform, platform_post_id) AS first_seen,
              count(*) OVER (PARTITION BY platform, platform_post_id) AS n_caps
       FROM _snap ORDER BY platform, platform_post_id, captured_at DESC, idx""",
]

_UPDATE_POSTS = """
UPDATE posts p SET
  full_urn = coalesce(p.full_urn, s.full_urn),
  url = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.url, p.url) ELSE coalesce(p.url, s.url)
      END,
  author_profile_id = coalesce(p.author_profile_id, a.id),
  author_username = coalesce(p.author_username, s.a_username, a.username),
  post_type = coalesce(p.post_type, s.post_type),
  content_type = CASE WHEN p.content_type = 'unknown' THEN s.content_type ELSE p.content_type END,
  text_content = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.text_content, p.text_content)
      ELSE coalesce(p.text_content, s.text_content) END,
  media_urls = CASE WHEN jsonb_array_length(p.media_urls) = 0 THEN s.media_urls ELSE p.media_urls END,
  hashtags = CASE WHEN jsonb_array_length(p.hashtags) = 0 THEN s.hashtags ELSE p.hashtags END,
  mentions = CASE WHEN jsonb_array_length(p.mentions) = 0 THEN s.mentions ELSE p.mentions END,
  is_sponsored = coalesce(p.is_sponsored, s.is_sponsored),
  posted_at = CASE WHEN p.posted_at IS NULL OR (p.posted_at_approximate AND NOT s.posted_approx
      AND s.posted_at IS NOT NULL) THEN s.posted_at ELSE p.posted_at END,
  posted_at_approximate = CASE WHEN p.posted_at IS NULL OR (p.posted_at_approximate AND NOT s.posted_approx
      AND s.posted_at IS NOT NULL) THEN s.posted_approx ELSE p.posted_at_approximate END,
  reaction_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.reactions, p.reaction_count)
      ELSE coalesce(p.reaction_count, s.reactions) END,
  like_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.likes, p.like_count)
      ELSE coalesce(p.like_count, s.likes) END,
  comment_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.comments, p.comment_count)
      ELSE coalesce(p.comment_count, s.comments) END,
  share_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.shares, p.share_count)
      ELSE coalesce(p.share_count, s.shares) END,
  view_count = CASE WHEN n.captured_at >= p.last_extracted_at THEN coalesce(s.views, p.view_count)
      ELSE coalesce(p.view_count, s.views) END,
  raw_json = CASE WHEN n.captured_at >= p.last_extracted_at OR p.raw_json IS NULL THEN s.raw
      ELSE p.raw_json END,
  first_seen_at = least(p.first_seen_at, n.first_seen),
  last_extracted_at = greatest(p.last_extracted_at, n.captured_at),
  tracking_started_at = CASE WHEN %(track)s AND p.tracking_started_at IS NULL AND NOT p.tracking_complete
      AND p.next_check_at IS NULL AND NOT p.is_deleted THEN %(now)s ELSE p.tracking_started_at END,
  next_check_at = CASE WHEN %(track)s AND p.tracking_started_at IS NULL AND NOT p.tracking_complete
      AND p.next_check_at IS NULL AND NOT p.is_deleted THEN s.next_check_at ELSE p.next_check_at END,
  checks_completed = CASE WHEN %(track)s AND p.tracking_started_at IS NULL AND NOT p.tracking_complete
      AND p.next_check_at IS NULL AND NOT p.is_deleted THEN coalesce(s.checks_completed, 0)
      ELSE p.checks_completed END,
  tracking_complete = CASE WHEN %(track)s AND p.tracking_started_at IS NULL AND NOT p.tracking_complete
      AND p.next_check_at IS NULL AND NOT p.is_deleted THEN coalesce(s.track_complete, false)
      ELSE p.tracking_complete END
FROM _post n JOIN stg_post s ON s.idx = n.idx
LEFT JOIN profiles a ON a.platform = s.platform AND a.profile_key = coalesce(s.a_uid,
    'u:' || lower(s.a_username))
WHERE p.platform = n.platform AND p.platform_post_id = n.platform_post_id
  AND NOT EXISTS (SELECT 1 FROM _created_post c WHERE c.id = p.id)
"""
# posts created by this run's chunk merges from their chunk's record: where the whole file says
# otherwise (the post was captured at several times across chunks, or its author's username comes
# from the profile), the values the whole-file insert would give
_POST_VALUES = """
  s.full_urn, s.url, a.id, coalesce(s.a_username, a.username),
  s.post_type, s.content_type, s.text_content, s.media_urls, s.hashtags, s.mentions, s.is_sponsored,
  s.posted_at, s.posted_approx, s.reactions, s.likes, s.comments, s.shares,
  s.views, s.raw, n.first_seen, n.captured_at,
  CASE WHEN %(track)s THEN %(now)s END, CASE WHEN %(track)s THEN s.next_check_at END,
  CASE WHEN %(track)s THEN coalesce(s.checks_completed, 0) ELSE 0 END,
  CASE WHEN %(track)s THEN coalesce(s.track_complete, false) ELSE false END
"""
_POST_COLUMNS = """full_urn, url, author_profile_id, author_username,
  post_type, content_type, text_content, media_urls, hashtags, mentions, is_sponsored,
  posted_at, posted_at_approximate, reaction_count, like_count, comment_count, share_count,
  view_count, raw_json, first_seen_at, last_extracted_at,
  tracking_started_at, next_check_at, checks_completed, tracking_complete"""
# when the chunk merges created no post, the anti-join with the empty _created_post only costs:
# hashing every joined row of posts for nothing (~0.15 s of 1.2 s per 50,000 posts)
_UPDATE_POSTS_NONE_CREATED = _UPDATE_POSTS.replace(
    "  AND NOT EXISTS (SELECT 1 FROM _created_post c WHERE c.id = p.id)\n", ""
)
assert _UPDATE_POSTS_NONE_CREATED != _UPDATE_POSTS
_FIX_CREATED_POSTS = (
    "UPDATE posts p SET ("
    + _POST_COLUMNS
    + ") = ("
    + _POST_VALUES
    + """)
FROM _created_post c, _post n JOIN stg_post s ON s.idx = n.idx
LEFT JOIN profiles a ON a.platform = s.platform AND a.profile_key = coalesce(s.a_uid,
    'u:' || lower(s.a_username))
WHERE c.id = p.id AND p.platform = n.platform AND p.platform_post_id = n.platform_post_id
  AND (n.n_caps > 1 OR s.a_username IS NULL)
  AND ("""
    + ", ".join("p." + c.strip() for c in _POST_COLUMNS.split(","))
    + ") IS DISTINCT FROM ("
    + _POST_VALUES
    + ")"
)
_NEW_POSTS = """
CREATE TEMP TABLE _new_post ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY n.platform, n.platform_post_id) AS rn, n.idx, n.first_seen, n.captured_at
FROM _post n
WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.platform = n.platform
    AND p.platform_post_id = n.platform_post_id)
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
LEFT JOIN profiles a ON a.platform = s.platform AND a.profile_key = coalesce(s.a_uid,
    'u:' || lower(s.a_username))
ON CONFLICT (platform, platform_post_id) DO NOTHING
"""
# posts that only comments point at (e.g. a comments export): stub rows, no snapshot
_NEW_STUBS = """
CREATE TEMP TABLE _new_stub ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY platform, platform_post_id) AS rn, platform, platform_post_id, seen
FROM (SELECT platform, platform_post_id, min(seen_at) AS seen FROM stg_comment GROUP BY 1, 2) c
WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.platform = c.platform
    AND p.platform_post_id = c.platform_post_id)
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
                            quote_count, stats_json, raw_json, source_file_path, captured_before_post)
SELECT i.id, n.post_id, %(run_id)s, s.captured_at, s.reactions, s.likes, s.comments, s.shares, s.views,
       s.saves, s.impressions, s.reach, s.clicks, s.quotes, s.stats, s.raw, %(source_path)s,
       coalesce(s.captured_at < s.posted_at, false)
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
       WHERE NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.post_id = m.post_id
           AND pm.media_url = m.url)""",
]
_INSERT_MEDIA = """
INSERT INTO post_media (id, post_id, media_type, media_url, thumbnail_url, width, height, duration_s,
    position)
SELECT i.id, m.post_id, m.media_type, m.url, m.thumbnail_url, m.width, m.height, m.duration_s, m.position
FROM _new_media n JOIN _ids i USING (rn) JOIN _media m ON m.post_id = n.post_id AND m.url = n.url
ON CONFLICT (post_id, media_url) WHERE post_id IS NOT NULL DO NOTHING
"""
_MERGE_COMMENTS = [
    """CREATE TEMP TABLE _cmt ON COMMIT DROP AS
       SELECT DISTINCT ON (c.platform, c.pcid) c.*, p.id AS post_id, a.id AS author_id,
              min(c.seen_at) OVER (PARTITION BY c.platform, c.pcid) AS first_seen
       FROM stg_comment c
       JOIN posts p ON p.platform = c.platform AND p.platform_post_id = c.platform_post_id
       LEFT JOIN profiles a ON a.platform = c.platform AND a.profile_key = coalesce(c.a_uid,
           'u:' || lower(c.a_username))
       ORDER BY c.platform, c.pcid, c.seen_at DESC, c.idx, c.sub""",
    """UPDATE comments m SET
         text = CASE WHEN c.seen_at >= m.last_seen_at AND c.text_content <> '' THEN c.text_content
             ELSE m.text END,
         like_count = CASE WHEN c.seen_at >= m.last_seen_at THEN coalesce(c.like_count, m.like_count)
             ELSE coalesce(m.like_count, c.like_count) END,
         reply_count = CASE WHEN c.seen_at >= m.last_seen_at THEN coalesce(c.reply_count, m.reply_count)
             ELSE coalesce(m.reply_count, c.reply_count) END,
         author_profile_id = coalesce(m.author_profile_id, c.author_id),
         author_username = coalesce(m.author_username, c.a_username),
         posted_at = coalesce(m.posted_at, c.posted_at),
         raw_json = CASE WHEN c.seen_at >= m.last_seen_at THEN c.raw ELSE m.raw_json END,
         first_seen_at = least(m.first_seen_at, c.first_seen),
         last_seen_at = greatest(m.last_seen_at, c.seen_at)
       FROM _cmt c
       WHERE m.platform = c.platform AND m.platform_comment_id = c.pcid
         AND (c.seen_at > m.last_seen_at OR c.first_seen < m.first_seen_at
              OR (m.like_count IS NULL AND c.like_count IS NOT NULL))""",
    """CREATE TEMP TABLE _new_cmt ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY c.platform, c.pcid) AS rn, c.platform, c.pcid
       FROM _cmt c
       WHERE NOT EXISTS (SELECT 1 FROM comments m WHERE m.platform = c.platform
           AND m.platform_comment_id = c.pcid)""",
]
_INSERT_COMMENTS = """
INSERT INTO comments (id, platform, platform_comment_id, post_id, is_reply, author_profile_id,
    author_username,
                      text, posted_at, like_count, reply_count, raw_json, first_seen_at, last_seen_at)
SELECT i.id, c.platform, c.pcid, c.post_id, c.parent_pcid IS NOT NULL, c.author_id, c.a_username,
       c.text_content, c.posted_at, c.like_count, c.reply_count, c.raw, c.first_seen, c.seen_at
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
    """UPDATE hashtags h SET post_count = CASE WHEN t.seen_at >= h.last_seen_at THEN coalesce(t.post_count,
        h.post_count) ELSE h.post_count END,
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
# The run's top snapshots by likes (+ reactions), with the counts this run captured.
_PREVIEW_COLUMNS = """p.id AS post_id, p.platform, p.author_username AS author, p.posted_at,
                       d.like_count AS likes,
       d.comment_count AS comments, d.view_count AS views, left(p.text_content, 80) AS text"""
PREVIEW_SQL = f"""
SELECT {_PREVIEW_COLUMNS}
FROM data_downloads d JOIN posts p ON p.id = d.post_id
WHERE d.run_id = %(run_id)s
ORDER BY coalesce(d.like_count, 0) + coalesce(d.total_reactions, 0) DESC, p.id
LIMIT %(n)s
"""
# The same kept while loading: each chunk's snapshot insert returns the rows it inserted (exactly
# the run's new snapshots), and its top PREVIEW_ROWS of them go to _preview_top, so the preview
# reads a few dozen rows plus the posts by primary key. No query on the store's natural keys:
# with wrong statistics (reltuples 0 after an autovacuum of a killed import's rows) the planner
# looked the candidates up through idx_posts_platform and idx_downloads_downloaded_at, whose
# every entry matched (68 s of 113 s for 150,000 posts of one capture time).
PREVIEW_TOP_DDL = """CREATE TEMP TABLE IF NOT EXISTS _preview_top (
  post_id text, rank bigint, likes bigint, comments bigint, views bigint) ON COMMIT DROP"""
_PREVIEW_KEPT = f"""
WITH ins AS (
{{insert}}
  RETURNING post_id, like_count, total_reactions, comment_count, view_count
), kept AS (
  INSERT INTO _preview_top
  SELECT post_id, coalesce(like_count, 0) + coalesce(total_reactions, 0) AS rank,
         like_count, comment_count, view_count
  FROM ins ORDER BY rank DESC, post_id LIMIT {PREVIEW_ROWS}
)
SELECT count(*) FROM ins
"""
# the posts by primary key (the only index on posts.id: no plan choice left to statistics)
PREVIEW_FROM_KEPT = """
SELECT p.id AS post_id, p.platform, p.author_username AS author, p.posted_at, t.likes, t.comments, t.views,
       left(p.text_content, 80) AS text
FROM (SELECT * FROM _preview_top ORDER BY rank DESC, post_id LIMIT %(n)s) t
JOIN posts p ON p.id = t.post_id
ORDER BY t.rank DESC, p.id
"""
PREVIEW_KEPT_COUNT = "SELECT count(*) FROM _preview_top"


# ----------------------------------------------------------------------------- per chunk
# While the parser reads chunk k+1, the COPY thread stores chunk k (stg_post_c / stg_profile_c)
# and inserts what is new in it: profiles, posts (from the chunk's own records) and snapshots
# (first record in file order wins: a later chunk finds the snapshot already there). Rows of the
# store that existed before the run are not touched here; the whole-file merge (``merge_staged``)
# updates them afterwards, and sets the posts/profiles created here to what the whole-file insert
# would have given where the file says otherwise (``_FIX_CREATED_POSTS``), so the result is the
# same as merging the whole file at once. Everything stays in the import's one transaction.

_CHUNK_PREPARE = [
    """INSERT INTO _c_prof
       SELECT DISTINCT ON (platform, pkey) *, min(first_seen) OVER (PARTITION BY platform, pkey)
       FROM (SELECT s.*, coalesce(s.uid, 'u:' || lower(s.username)) AS pkey FROM stg_profile_c s) x
       ORDER BY platform, pkey, seen_at DESC, idx DESC""",
    """INSERT INTO _c_new_prof (rn, platform, pkey)
       SELECT row_number() OVER (ORDER BY s.platform, s.pkey), s.platform, s.pkey
       FROM _c_prof s
       WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.platform = s.platform
           AND p.profile_key = s.pkey)""",
]
_CHUNK_INSERT_PROFILES = f"""
WITH ins AS ({_insert_profiles("_c_new_prof", "_c_prof")}
  RETURNING id)
INSERT INTO _created_prof (id) SELECT id FROM ins
"""
_CHUNK_POSTS = [
    # numbered 1..n (in no particular order) for the snapshot ids
    """INSERT INTO _c_snap (idx, platform, platform_post_id, captured_at, rn)
       SELECT *, row_number() OVER ()
       FROM (SELECT DISTINCT ON (platform, platform_post_id, captured_at) idx, platform, platform_post_id,
           captured_at
             FROM stg_post_c ORDER BY platform, platform_post_id, captured_at, idx) x""",
    """INSERT INTO _c_post
       SELECT DISTINCT ON (platform, platform_post_id) idx, platform, platform_post_id, captured_at,
              min(captured_at) OVER (PARTITION BY platform, platform_post_id)
       FROM _c_snap ORDER BY platform, platform_post_id, captured_at DESC, idx""",
    """INSERT INTO _c_new_post (rn, idx, first_seen, captured_at)
       SELECT row_number() OVER (ORDER BY n.platform, n.platform_post_id), n.idx, n.first_seen, n.captured_at
       FROM _c_post n
       WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.platform = n.platform
           AND p.platform_post_id = n.platform_post_id)""",
]
_CHUNK_INSERT_POSTS = (
    """
WITH ins AS (
  INSERT INTO posts (id, platform, platform_post_id, """
    + _POST_COLUMNS
    + """)
  SELECT i.id, s.platform, s.platform_post_id, """
    + _POST_VALUES
    + """
  FROM _c_new_post n JOIN _ids i USING (rn) JOIN stg_post_c s ON s.idx = n.idx
  LEFT JOIN profiles a ON a.platform = s.platform AND a.profile_key = coalesce(s.a_uid,
      'u:' || lower(s.a_username))
  ON CONFLICT (platform, platform_post_id) DO NOTHING
  RETURNING id)
INSERT INTO _created_post (id) SELECT id FROM ins
"""
)
# Every snapshot of the chunk gets an id and goes to the INSERT, whose ON CONFLICT skips the ones
# stored before: no separate pass to find the new ones first (0.9 s per 100,000 snapshots); the ids
# of skipped rows are simply not used.
_CHUNK_INSERT_SNAPS = _INSERT_SNAPS.replace("n.post_id,", "p.id,").replace(
    "FROM _new_snap n JOIN _ids i USING (rn) JOIN stg_post s ON s.idx = n.idx",
    "FROM _c_snap k JOIN _ids i USING (rn) JOIN stg_post_c s ON s.idx = k.idx\n"
    "JOIN posts p ON p.platform = k.platform AND p.platform_post_id = k.platform_post_id",
)
assert "_c_snap k" in _CHUNK_INSERT_SNAPS and "p.id," in _CHUNK_INSERT_SNAPS
_CHUNK_INSERT_SNAPS_KEPT = _PREVIEW_KEPT.format(insert=_CHUNK_INSERT_SNAPS.strip())
_POST_KEY = ("ON CONFLICT (platform, platform_post_id) DO NOTHING", "posts_platform_platform_post_id_key")
"""The chunk's new posts were checked just before: only a concurrent import can add one."""
_SNAPSHOT_KEY = (
    "ON CONFLICT (post_id, downloaded_at) DO NOTHING",
    "data_downloads_post_id_downloaded_at_key",
)
"""A chunk's snapshots are nearly always new: an earlier snapshot at the same capture time comes
only from an overlapping re-import or a duplicate record in an earlier chunk."""
_CHUNK_DONE = [
    "INSERT INTO stg_post SELECT * FROM stg_post_c",
    "INSERT INTO stg_profile SELECT * FROM stg_profile_c",
    # one statement: each TRUNCATE costs a round of buffer and catalog work
    "TRUNCATE stg_post_c, stg_profile_c, _c_prof, _c_new_prof, _c_snap, _c_post, _c_new_post",
]
# with side staging, stg_post_c / stg_profile_c are views of the chunk's side tables
_CHUNK_DONE_VIEWS = _CHUNK_DONE[:2] + [_CHUNK_DONE[2].replace("stg_post_c, stg_profile_c, ", "")]


class ChunkCounts:
    """Rows inserted by the per-chunk merges of one run."""

    __slots__ = ("profiles", "posts", "snapshots", "complete")

    def __init__(self) -> None:
        self.profiles = self.posts = self.snapshots = 0
        self.complete = False
        """True once every chunk of the run went through :func:`merge_chunk` (set by the loader)."""


def merge_chunk(
    conn: Connection,
    raw_conn,
    run_id: str,
    source: RunSource,
    now: datetime,
    counts: ChunkCounts,
    chunk_views: bool = False,
) -> None:
    """Insert the new profiles, posts and snapshots of the chunk in ``stg_post_c`` /
    ``stg_profile_c``, then append the chunk to ``stg_post`` / ``stg_profile`` (runs on the COPY
    thread; see the comment above)."""
    p = {"run_id": run_id, "source_path": source.source_path, "track": bool(source.track), "now": now}
    # the _c_new_* tables hold this chunk's rows only (emptied by _CHUNK_DONE): the row count of
    # the statement filling each is its size
    n = _run_many(raw_conn, _CHUNK_PREPARE)[-1]
    counts.profiles += _insert_with_ids(
        conn, raw_conn, "profiles", "_c_new_prof", _CHUNK_INSERT_PROFILES, n=n
    )
    n_snaps, _, n = _run_many(raw_conn, _CHUNK_POSTS)
    counts.posts += _insert_with_ids(
        conn, raw_conn, "posts", "_c_new_post", _CHUNK_INSERT_POSTS, p, n=n, plain_first=_POST_KEY
    )
    counts.snapshots += _insert_with_ids(
        conn,
        raw_conn,
        "data_downloads",
        "_c_snap",
        _CHUNK_INSERT_SNAPS_KEPT,
        p,
        n=n_snaps,
        plain_first=_SNAPSHOT_KEY,
        counted=True,
    )
    _run_many(raw_conn, _CHUNK_DONE_VIEWS if chunk_views else _CHUNK_DONE)


def _run_many(raw_conn, statements: list[str]) -> list[int]:
    """Run parameterless statements (from code) in one round trip: the merge thread waits for
    the parser's thread to hand over the GIL after each one. Returns their row counts."""
    with raw_conn.cursor() as cur:
        cur.execute(";\n".join(statements))
        counts = [cur.rowcount]
        while cur.nextset():
            counts.append(cur.rowcount)
    return counts


def merge_staged(
    conn: Connection,
    raw_conn,
    run_id: str,
    source: RunSource,
    stager: Stager,
    now: datetime,
    chunks: ChunkCounts | None = None,
) -> ImportResult:
    track = bool(source.track)
    p = {"run_id": run_id, "source_path": source.source_path, "track": track, "now": now}
    res = ImportResult(run_id=run_id, status="completed")
    for sql in _MERGE_PROFILES:
        run_sql(conn, sql)
    res.profiles_new = _insert_with_ids(conn, raw_conn, "profiles", "_new_prof", _INSERT_PROFILES)
    chunks = chunks or ChunkCounts()
    res.profiles_new += chunks.profiles
    snap_rows = run_sql(conn, _MERGE_POSTS[0]).rowcount
    if snap_rows != stager.posts:  # some (post, capture time) came twice: keep the later ones aside
        run_sql(conn, _MERGE_POSTS[1])
    n_posts = run_sql(conn, _MERGE_POSTS[2]).rowcount
    if chunks.complete and chunks.posts == n_posts:
        res.posts_updated = 0  # every post of the file was created by this run: none existed before
    else:
        res.posts_updated = run_sql(
            conn, _UPDATE_POSTS if chunks.posts else _UPDATE_POSTS_NONE_CREATED, p
        ).rowcount
    if chunks.posts and (
        stager.posts_without_username
        or run_sql(conn, "SELECT EXISTS (SELECT 1 FROM _post WHERE n_caps > 1)").scalar()
    ):
        run_sql(conn, _FIX_CREATED_POSTS, p)
    # after per-chunk merges of every chunk, each post of the file exists and each first
    # (post, capture time) has its snapshot: the whole-file inserts below would find nothing
    complete = chunks.complete
    res.posts_new = chunks.posts
    if not complete:
        run_sql(conn, _NEW_POSTS)
        res.posts_new += _insert_with_ids(conn, raw_conn, "posts", "_new_post", _INSERT_POSTS, p)
    run_sql(conn, _NEW_STUBS)
    res.posts_new += _insert_with_ids(conn, raw_conn, "posts", "_new_stub", _INSERT_STUBS, p)
    res.snapshots_new = chunks.snapshots
    if not complete:
        run_sql(conn, _NEW_SNAPS)
        res.snapshots_new += _insert_with_ids(conn, raw_conn, "data_downloads", "_new_snap", _INSERT_SNAPS, p)
    for sql in _MERGE_MEDIA:
        run_sql(conn, sql)
    res.media_upserted = _insert_with_ids(conn, raw_conn, "post_media", "_new_media", _INSERT_MEDIA)
    updated_comments = 0
    for i, sql in enumerate(_MERGE_COMMENTS):
        r = run_sql(conn, sql)
        if i == 1:
            updated_comments = r.rowcount
    new_comments = _insert_with_ids(conn, raw_conn, "comments", "_new_cmt", _INSERT_COMMENTS)
    run_sql(conn, _LINK_REPLIES)
    res.comments_upserted = updated_comments + new_comments
    for sql in _MERGE_HASHTAGS:
        run_sql(conn, sql)
    _insert_with_ids(conn, raw_conn, "hashtags", "_new_tag", _INSERT_HASHTAGS)
    run_sql(conn, _NEW_REJECTS)
    res.records_rejected = _insert_with_ids(
        conn, raw_conn, "rejected_records", "_new_rej", _INSERT_REJECTS, p
    )
    res.duplicates = run_sql(conn, "SELECT count(*) FROM _new_rej WHERE kind = 'duplicate'").scalar()
    res.rejected = [
        dict(r)
        for r in run_sql(
            conn, "SELECT record_index, field, reason FROM _new_rej ORDER BY rn LIMIT 20"
        ).mappings()
    ]
    res.posts_fetched = stager.posts
    return res
