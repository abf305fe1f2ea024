"""Bluesky collection: posts, replies and profile counts as one download run, like an import.

What one collection reads from the AppView (:mod:`postpulse.bluesky.appview`):

* for each connected account: its profile (followers, follows, posts) and its author feed;
* for each watched profile (``--profile``, and profiles marked tracked on platform
  ``bluesky``): the same;
* optionally a search query (``app.bsky.feed.searchPosts``, where the AppView serves it);
* for every collected post with replies: its thread, the replies attached to the post.

The answers are written as JSONL of postView records (profile counts merged into the author,
replies under ``replies``) to ``<data dir>/downloads/bluesky/`` and loaded by the ingest
loader with the built-in ``bluesky_posts`` mapping: the same tables, natural keys (the AT URI),
snapshots, tracking and run counts as any import. In the same transaction, our accounts' posts
and profiles are linked to their account, the accounts' counts are updated, and each call
lands in ``api_usage``. A failed call fails the whole collection before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse import config
from postpulse.api_usage import record_calls
from postpulse.ids import allocate_ids, retry_on_id_collision
from postpulse.ingest import iter_file
from postpulse.ingest.downloads import write_jsonl
from postpulse.ingest.loader import ImportResult, RunSource, load_records

from .appview import AppView
from .errors import BlueskyError, NotFound

FORMAT = "bluesky_posts"
_PROFILE_COUNTS = ("followersCount", "followsCount", "postsCount", "description")

_LINK_OURS = text("""
WITH ours AS (
  SELECT pr.id AS profile_id, a.id AS account_id
  FROM accounts a JOIN profiles pr ON pr.platform = 'bluesky' AND pr.platform_user_id = a.platform_user_id
  WHERE a.platform = 'bluesky'
), p AS (
  UPDATE posts SET account_id = ours.account_id FROM ours
  WHERE posts.author_profile_id = ours.profile_id AND posts.account_id IS NULL RETURNING posts.id
)
UPDATE profiles SET account_id = ours.account_id FROM ours
WHERE profiles.id = ours.profile_id AND profiles.account_id IS NULL
""")
_ACCOUNT_COUNTS = text(
    "UPDATE accounts SET followers_count = :followers, following_count = :follows, posts_count = :posts, "
    "last_synced_at = :now WHERE platform = 'bluesky' AND platform_user_id = :did"
)
_WATCH = text(
    "UPDATE profiles SET is_tracked = true WHERE platform = 'bluesky' AND "
    "(platform_user_id = ANY(:keys) OR lower(username) = ANY(:keys))"
)
# every profile read lands with its counts, also one without posts (no post brought it in)
_PROFILE = text(
    "INSERT INTO profiles (id, platform, platform_user_id, username, display_name, profile_url, bio, "
    "follower_count, following_count, post_count, last_seen_at, last_synced_at) "
    "VALUES (:id, 'bluesky', :did, :handle, :name, :url, :bio, :followers, :follows, :posts, :now, :now) "
    "ON CONFLICT (platform, profile_key) DO UPDATE SET username = EXCLUDED.username, "
    "display_name = coalesce(EXCLUDED.display_name, profiles.display_name), "
    "follower_count = coalesce(EXCLUDED.follower_count, profiles.follower_count), "
    "following_count = coalesce(EXCLUDED.following_count, profiles.following_count), "
    "post_count = coalesce(EXCLUDED.post_count, profiles.post_count), "
    "last_seen_at = EXCLUDED.last_seen_at, last_synced_at = EXCLUDED.last_synced_at"
)
_WATCHED = text(
    "SELECT coalesce(platform_user_id, username) FROM profiles WHERE platform = 'bluesky' AND is_tracked "
    "AND is_active ORDER BY id"
)


@dataclass
class CollectResult:
    run_id: str | None = None
    posts: int = 0
    replies: int = 0
    profiles: int = 0
    search_posts: int = 0
    calls: int = 0
    notes: list[str] = field(default_factory=list)
    import_result: ImportResult | None = None
    path: str | None = None

    @property
    def message(self) -> str:
        base = (
            f"{self.posts} posts, {self.replies} replies, {self.profiles} profiles in {self.calls} calls"
            f" -> {self.import_result.message if self.import_result else 'nothing loaded'}"
        )
        return base + ("; " + "; ".join(self.notes) if self.notes else "")


def watched_profiles(conn: Connection) -> list[str]:
    return list(conn.execute(_WATCHED).scalars())


def _with_counts(post: dict, profile: dict | None) -> dict:
    """The post with the author's profile counts merged in (when it is that profile's post)."""
    if not profile or post.get("author", {}).get("did") != profile.get("did"):
        return post
    author = dict(post["author"])
    for key in _PROFILE_COUNTS:
        if key in profile:
            author[key] = profile[key]
    return {**post, "author": author}


def gather(
    appview: AppView,
    *,
    actors: list[str],
    search: str | None = None,
    limit: int = 100,
    pages: int = 5,
    replies: bool = True,
) -> tuple[list[dict], list[str], dict[str, dict]]:
    """``(postViews with replies attached, notes, profiles read by DID)``; raises BlueskyError."""
    posts: dict[str, dict] = {}
    notes: list[str] = []
    profiles: dict[str, dict] = {}
    for actor in actors:
        try:
            profile = appview.profile(actor)
        except NotFound:
            raise BlueskyError(
                f"the profile {actor} does not exist on {appview.base_url}",
                fix="check the handle (full handle, e.g. name.bsky.social) or remove it from the watch list",
            ) from None
        profiles[profile["did"]] = profile
        for post in appview.author_feed(profile["did"], limit=limit, pages=pages):
            posts[post["uri"]] = _with_counts(post, profile)
    if search:
        try:
            for post in appview.search_posts(search, limit=limit):
                posts.setdefault(post["uri"], post)
        except NotFound:
            notes.append(f"search {search!r}: this AppView does not serve searchPosts")
        except BlueskyError as exc:
            if "not implemented" in exc.message.lower() or "MethodNotImplemented" in exc.message:
                notes.append(f"search {search!r}: this AppView does not serve searchPosts")
            else:
                raise
    if replies:
        for uri, post in list(posts.items()):
            if (post.get("replyCount") or 0) > 0:
                try:
                    posts[uri] = {**post, "replies": appview.thread_replies(uri)}
                except NotFound:
                    notes.append(f"{uri}: deleted while collecting")
                    posts.pop(uri)
    return list(posts.values()), notes, profiles


def download_path(now: datetime, folder: Path | None = None) -> Path:
    folder = folder or config.data_dir() / "downloads" / "bluesky"
    return folder / f"bluesky-{now:%Y%m%dT%H%M%S%fZ}.jsonl"


def collect(
    engine: Engine,
    appview: AppView,
    *,
    actors: list[str],
    watch: list[str] = (),
    search: str | None = None,
    limit: int = 100,
    pages: int = 5,
    track: bool = True,
    dagster_run_id: str | None = None,
    now: datetime | None = None,
    folder: Path | None = None,
) -> CollectResult:
    """Read everything, then load it as one download run (all or nothing)."""
    now = now or datetime.now(UTC)
    res = CollectResult()
    rows, res.notes, profiles = gather(appview, actors=actors, search=search, limit=limit, pages=pages)
    res.profiles = len(profiles)
    res.posts = len(rows)
    res.replies = sum(len(r.get("replies") or []) for r in rows)
    path = download_path(now, folder)
    write_jsonl(path, rows)
    res.path = str(path)
    calls = list(appview.calls)
    res.calls = len(calls)

    def after_merge(conn: Connection, run_id: str) -> str | None:
        if profiles:

            def upsert() -> None:
                ids = allocate_ids(conn, "profiles", len(profiles))
                conn.execute(
                    _PROFILE,
                    [
                        {
                            "id": pid,
                            "did": did,
                            "handle": p.get("handle"),
                            "name": p.get("displayName"),
                            "url": f"https://bsky.app/profile/{p.get('handle') or did}",
                            "bio": p.get("description"),
                            "followers": p.get("followersCount"),
                            "follows": p.get("followsCount"),
                            "posts": p.get("postsCount"),
                            "now": now,
                        }
                        for pid, (did, p) in zip(ids, profiles.items(), strict=True)
                    ],
                )

            retry_on_id_collision(conn, "profiles", upsert)
        conn.execute(_LINK_OURS)
        counts = [
            {
                "did": did,
                "followers": p.get("followersCount"),
                "follows": p.get("followsCount"),
                "posts": p.get("postsCount"),
                "now": now,
            }
            for did, p in profiles.items()
        ]
        if counts:
            conn.execute(_ACCOUNT_COUNTS, counts)
        if watch:
            keys = [w.lower().lstrip("@") for w in watch]
            conn.execute(_WATCH, {"keys": keys})
        record_calls(conn, "bluesky", calls, run_id=run_id)
        return None

    source = RunSource(
        source_kind="api",
        source_path=str(path),
        source_bytes=path.stat().st_size,
        format=FORMAT,
        platform="bluesky",
        captured_at=now,
        captured_at_source="fetch_time",
        script_name="postpulse bluesky collect",
        dagster_run_id=dagster_run_id,
        track=track,
        extra_info={
            "appview": appview.base_url,
            "actors": len(actors),
            "search": search,
            "calls": len(calls),
        },
    )
    records = iter_file(path, FORMAT, captured_at=now) if rows else iter(())
    res.import_result = load_records(engine, records, source, now=now, after_merge=after_merge)
    res.run_id = res.import_result.run_id
    return res
