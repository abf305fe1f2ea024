"""Tags on posts and profiles, given by hand (``source='manual'``); rules give them too
(:mod:`postpulse.agency.rules`, ``source='rule:<id>'``). A manual tag is never removed by a rule."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.agency.errors import AgencyError
from postpulse.agency.sqlutil import find_profile, insert_missing
from postpulse.ids import insert_with_new_id


def tag_name(name: str) -> str:
    value = (name or "").strip().lstrip("#").lower()
    if not value or len(value) > 100:
        raise AgencyError(f"tag name {name!r} must be 1 to 100 characters")
    return value


def get_tag(conn: Connection, name: str) -> dict:
    row = (
        conn.execute(
            text("SELECT id, name, description, color FROM tags WHERE name = :n OR id = :n"),
            {"n": tag_name(name) if not name.startswith("tag-") else name},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise AgencyError(f"no tag named {name!r}", fix="create it with `postpulse tags add NAME`")
    return dict(row)


def add_tag(conn: Connection, name: str, *, description: str | None = None, exist_ok: bool = False) -> dict:
    name = tag_name(name)
    existing = conn.execute(text("SELECT id FROM tags WHERE name = :n"), {"n": name}).scalar()
    if existing:
        if exist_ok:
            return get_tag(conn, existing)
        raise AgencyError(f"tag {name!r} already exists ({existing})")
    insert_with_new_id(conn, "tags", {"name": name, "description": description})
    return get_tag(conn, name)


def resolve_post(conn: Connection, ref: str) -> str:
    """A post id from ``p-...`` or ``platform:platform_post_id``."""
    ref = (ref or "").strip()
    if ref.startswith("p-"):
        found = conn.execute(text("SELECT id FROM posts WHERE id = :r"), {"r": ref}).scalar()
    elif ":" in ref:
        platform, ppid = ref.split(":", 1)
        found = conn.execute(
            text("SELECT id FROM posts WHERE platform = :p AND platform_post_id = :i"),
            {"p": platform.strip().lower(), "i": ppid.strip()},
        ).scalar()
    else:
        found = None
    if not found:
        raise AgencyError(
            f"no post {ref!r}", fix="name a post by its id (p-...) or as platform:platform_post_id"
        )
    return found


def resolve_profile(conn: Connection, ref: str) -> str:
    """A profile id from ``prf-...`` or ``platform:username``."""
    ref = (ref or "").strip()
    if ref.startswith("prf-"):
        found = conn.execute(text("SELECT id FROM profiles WHERE id = :r"), {"r": ref}).scalar()
    elif ":" in ref:
        platform, username = ref.split(":", 1)
        found = find_profile(conn, platform.strip().lower(), username.strip().lstrip("@"))
    else:
        found = None
    if not found:
        raise AgencyError(
            f"no profile {ref!r}", fix="name a profile by its id (prf-...) or as platform:username"
        )
    return found


def assign(conn: Connection, tag: str, *, posts: list[str] = (), profiles: list[str] = ()) -> int:
    """Tag posts and profiles by hand; returns how many were newly tagged. A post tagged by a
    rule before becomes a manual tag (kept whatever the rules say later)."""
    t = get_tag(conn, tag)
    post_ids = [resolve_post(conn, r) for r in posts]
    profile_ids = [resolve_profile(conn, r) for r in profiles]
    n = 0
    if post_ids:
        n += conn.execute(
            text(
                "UPDATE post_tags SET source = 'manual', applied_by = 'user', confidence = 1 "
                "WHERE tag_id = :t AND post_id = ANY(:ids) AND source <> 'manual'"
            ),
            {"t": t["id"], "ids": post_ids},
        ).rowcount
        n += insert_missing(
            conn,
            """INSERT INTO post_tags (id, post_id, tag_id, confidence, applied_by, source)
               SELECT pp_new_id('ptg'), x.id, :t, 1, 'user', 'manual'
               FROM unnest(CAST(:ids AS text[])) AS x(id)
               WHERE NOT EXISTS (SELECT 1 FROM post_tags pt WHERE pt.post_id = x.id AND pt.tag_id = :t)
               ON CONFLICT DO NOTHING""",
            {"t": t["id"], "ids": post_ids},
        )
    if profile_ids:
        n += insert_missing(
            conn,
            """INSERT INTO profile_tags (id, profile_id, tag_id)
               SELECT pp_new_id('pft'), x.id, :t FROM unnest(CAST(:ids AS text[])) AS x(id)
               WHERE NOT EXISTS (SELECT 1 FROM profile_tags pt WHERE pt.profile_id = x.id AND pt.tag_id = :t)
               ON CONFLICT DO NOTHING""",
            {"t": t["id"], "ids": profile_ids},
        )
    return n


def unassign(conn: Connection, tag: str, *, posts: list[str] = (), profiles: list[str] = ()) -> int:
    """Remove the tag from posts (whoever gave it) and profiles; returns the rows removed."""
    t = get_tag(conn, tag)
    post_ids = [resolve_post(conn, r) for r in posts]
    profile_ids = [resolve_profile(conn, r) for r in profiles]
    n = 0
    if post_ids:
        n += conn.execute(
            text("DELETE FROM post_tags WHERE tag_id = :t AND post_id = ANY(:ids)"),
            {"t": t["id"], "ids": post_ids},
        ).rowcount
    if profile_ids:
        n += conn.execute(
            text("DELETE FROM profile_tags WHERE tag_id = :t AND profile_id = ANY(:ids)"),
            {"t": t["id"], "ids": profile_ids},
        ).rowcount
    return n


def list_tags(conn: Connection) -> list[dict]:
    rows = conn.execute(
        text(
            """SELECT t.id, t.name,
                      (SELECT count(*) FROM post_tags pt
                       WHERE pt.tag_id = t.id AND pt.source = 'manual') AS posts_manual,
                      (SELECT count(*) FROM post_tags pt
                       WHERE pt.tag_id = t.id AND pt.source LIKE 'rule%') AS posts_by_rules,
                      (SELECT count(*) FROM profile_tags pt WHERE pt.tag_id = t.id) AS profiles,
                      (SELECT count(*) FROM tag_rules r WHERE r.tag_id = t.id) AS rules
               FROM tags t ORDER BY t.name"""
        )
    ).mappings()
    return [dict(r) for r in rows]
