"""Helpers for the ingest tests: synthetic exports in real scraper shapes (built with the
sandbox's format writers), and whole-store snapshots to prove "nothing changed"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from postpulse.sandbox.formats import item_for
from postpulse.sandbox.world import build_world

TABLES = (
    "download_runs",
    "data_downloads",
    "posts",
    "profiles",
    "comments",
    "post_media",
    "rejected_records",
    "hashtags",
)
BASE = "http://127.0.0.1:8765"


def store_snapshot(engine) -> dict:
    """Every row of the ingest tables (as text), for before/after comparisons."""
    out = {}
    with engine.connect() as conn:
        for t in TABLES:
            rows = conn.execute(text(f"SELECT to_jsonb(x)::text FROM {t} x ORDER BY 1")).scalars().all()
            out[t] = rows
    return out


def natural_snapshot(engine) -> dict:
    """The store by natural keys (ids and wall-clock columns left out): equal for equal imports."""
    q = {
        "posts": "SELECT platform, platform_post_id, url, text_content, like_count, comment_count, "
        "share_count, "
        "view_count, reaction_count, posted_at, first_seen_at, last_extracted_at FROM posts ORDER BY 1, 2",
        "snapshots": "SELECT p.platform, p.platform_post_id, d.downloaded_at, d.like_count, d.comment_count, "
        "d.view_count, d.share_count, d.total_reactions, d.raw_json::text FROM data_downloads d "
        "JOIN posts p ON p.id = d.post_id ORDER BY 1, 2, 3",
        "profiles": "SELECT platform, profile_key, username, follower_count FROM profiles ORDER BY 1, 2",
        "comments": "SELECT c.platform, c.platform_comment_id, p.platform_post_id, par.platform_comment_id, "
        "c.like_count, "
        "c.text FROM comments c JOIN posts p ON p.id = c.post_id "
        "LEFT JOIN comments par ON par.id = c.parent_comment_id ORDER BY 1, 2",
        "runs": "SELECT source_sha256, status, posts_fetched, posts_new, posts_updated, snapshots_new, "
        "records_rejected, "
        "captured_at, captured_at_source FROM download_runs ORDER BY 1",
        "rejected": "SELECT record_index, field, reason FROM rejected_records ORDER BY 1",
        "media": "SELECT p.platform_post_id, m.media_url FROM post_media m JOIN posts p ON p.id = m.post_id "
        "ORDER BY 1, 2",
    }
    with engine.connect() as conn:
        return {k: [tuple(str(v) for v in r) for r in conn.execute(text(s)).all()] for k, s in q.items()}


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def scraper_items(
    platform: str,
    n_profiles: int = 2,
    posts_per_profile: int = 3,
    *,
    seed: int = 11,
    at: datetime | None = None,
) -> list[dict]:
    """Items in the real scraper shape of ``platform`` (same writers as the sandbox)."""
    world = build_world(
        seed=seed,
        profiles=n_profiles,
        posts_per_profile=posts_per_profile,
        now=datetime(2025, 9, 1, 12, tzinfo=UTC),
        future_days=0,
    )
    now = at or world.now
    posts = world.visible_posts(platform, now)
    return [item_for(world, p, now, BASE) for p in posts]


def write_json(path: Path, items) -> Path:
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, items) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def apify_name(actor: str, when: datetime, ext: str = "json") -> str:
    return f"dataset_{actor}_{when:%Y-%m-%d_%H-%M-%S}-{when.microsecond // 1000:03d}.{ext}"


T0 = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=7)
