"""Helpers for the agency tests: sandbox-shaped exports imported through the real import."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from postpulse.ingest.loader import import_file
from postpulse.sandbox.formats import item_for
from postpulse.sandbox.world import build_world

BASE = "http://127.0.0.1:8765"
NOW = datetime(2025, 9, 1, 12, tzinfo=UTC)


def world(profiles: int = 3, posts: int = 4):
    return build_world(seed=11, profiles=profiles, posts_per_profile=posts, now=NOW, future_days=0)


def export(
    tmp_path: Path, platform: str, w=None, at: datetime | None = None, name: str | None = None
) -> Path:
    w = w or world()
    at = at or w.now
    items = [item_for(w, p, at, BASE) for p in w.visible_posts(platform, at)]
    path = tmp_path / (name or f"{platform}_{at:%Y%m%d%H%M%S}.json")
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def load(engine, tmp_path: Path, platform: str, w=None, at: datetime | None = None):
    return import_file(engine, export(tmp_path, platform, w, at), captured_at=at or NOW)


def rows(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
