"""Watch sources (how profiles are collected, with a daily budget) and watches (the profiles),
and the profile URLs a watch can be given."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.agency.errors import AgencyError
from postpulse.agency.profile_snapshots import ensure_profile
from postpulse.ids import insert_with_new_id

KINDS = ("apify", "bluesky")
ROLES = ("ours", "competitor", "creator")
SANDBOX_PLATFORMS = ("linkedin", "instagram", "tiktok", "x", "threads")

# host (without www./m.) -> platform
HOSTS = {
    "instagram.com": "instagram",
    "tiktok.com": "tiktok",
    "x.com": "x",
    "twitter.com": "x",
    "linkedin.com": "linkedin",
    "threads.net": "threads",
    "threads.com": "threads",
    "facebook.com": "facebook",
    "youtube.com": "youtube",
    "bsky.app": "bluesky",
}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SKIP_SEGMENTS = {"in", "company", "profile", "user", "c", "@"}


@dataclass(frozen=True)
class ProfileRef:
    platform: str
    username: str
    url: str | None = None

    @property
    def key(self) -> str:
        """The watch's partition key in Dagster: ``platform:username``."""
        return f"{self.platform}:{self.username}"


def parse_profile(ref: str) -> ProfileRef:
    """A profile from its URL (a known platform's, or the sandbox's ``/<platform>/<user>``) or
    ``platform:username``; a clear error for anything else."""
    value = (ref or "").strip()
    if "://" not in value:
        platform, sep, username = value.partition(":")
        if sep and platform.strip().lower() in set(HOSTS.values()) | set(SANDBOX_PLATFORMS):
            name = username.strip().lstrip("@")
            if name:
                return ProfileRef(platform.strip().lower(), name)
        raise AgencyError(
            f"{ref!r} is neither a profile URL nor platform:username",
            fix="give e.g. https://www.instagram.com/name/ or instagram:name",
        )
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if host in LOOPBACK and segments and segments[0] in SANDBOX_PLATFORMS:
        platform, rest = segments[0], segments[1:]
    else:
        bare = re.sub(r"^(www\.|m\.|mobile\.)", "", host)
        platform = HOSTS.get(bare)
        rest = segments
        if platform is None:
            raise AgencyError(
                f"{ref!r}: no known platform at {host or '(no host)'}",
                fix=f"watch a profile on one of {', '.join(sorted(HOSTS))} (or the sandbox)",
            )
    names = [s for s in rest if s.lower() not in _SKIP_SEGMENTS]
    username = names[0].lstrip("@") if names else ""
    if not username:
        raise AgencyError(f"{ref!r}: the URL names no profile", fix="give the profile's own page URL")
    return ProfileRef(platform, username, value)


# -- sources ----------------------------------------------------------------------------------


def add_source(
    conn: Connection,
    name: str,
    *,
    kind: str,
    results_per_day: int,
    cost_per_result: float = 0.0,
    cost_per_day: float | None = None,
    actor_id: str | None = None,
    run_input: dict | None = None,
    base_url: str | None = None,
) -> dict:
    """A collection source with its daily budget (results, and estimated cost if priced)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise AgencyError(f"source name {name!r} must be 1 to 100 characters")
    if kind not in KINDS:
        raise AgencyError(f"source kind {kind!r} is not one of {', '.join(KINDS)}")
    if results_per_day is None or results_per_day <= 0:
        raise AgencyError(
            f"source {name!r}: a budget of {results_per_day} results per day collects nothing",
            fix="give --results-per-day 1 or more (remove the watches instead to stop collecting)",
        )
    if cost_per_result < 0:
        raise AgencyError(f"source {name!r}: --cost-per-result must be 0 or more")
    if cost_per_day is not None and cost_per_day <= 0:
        raise AgencyError(
            f"source {name!r}: a budget of {cost_per_day} per day collects nothing",
            fix="give --cost-per-day above 0, or leave it out",
        )
    config: dict[str, Any] = {}
    if kind == "apify":
        if not actor_id:
            raise AgencyError(
                f"source {name!r}: an Apify source needs --actor (e.g. apify~instagram-scraper)"
            )
        if run_input is not None and not isinstance(run_input, dict):
            raise AgencyError(f"source {name!r}: --input must be a JSON object")
        config = {"actor_id": actor_id, "input": run_input or {"profiles": ["{username}"]}}
        if base_url:
            config["base_url"] = base_url.rstrip("/")
    if conn.execute(text("SELECT 1 FROM watch_sources WHERE name = :n"), {"n": name}).first():
        raise AgencyError(f"a watch source named {name!r} already exists")
    row = insert_with_new_id(
        conn,
        "watch_sources",
        {
            "name": name,
            "kind": kind,
            "config": json.dumps(config),
            "results_per_day": results_per_day,
            "cost_per_result": cost_per_result,
            "cost_per_day": cost_per_day,
        },
    )
    return get_source(conn, row["id"])


def get_source(conn: Connection, ref: str) -> dict:
    row = (
        conn.execute(
            text(
                "SELECT id, name, kind, config, results_per_day, cost_per_result, cost_per_day "
                "FROM watch_sources WHERE id = :r OR name = :r"
            ),
            {"r": ref},
        )
        .mappings()
        .first()
    )
    if row is None:
        names = conn.execute(text("SELECT name FROM watch_sources ORDER BY name")).scalars().all()
        raise AgencyError(
            f"no watch source {ref!r}; sources: {', '.join(names) or '(none yet)'}",
            fix="add one with `postpulse watch source-add`",
        )
    return dict(row)


@dataclass(frozen=True)
class Budget:
    results_used: int
    results_per_day: int
    cost_used: float
    cost_per_day: float | None

    @property
    def results_left(self) -> int:
        return max(0, self.results_per_day - self.results_used)

    @property
    def spent(self) -> bool:
        return self.results_left == 0 or (
            self.cost_per_day is not None and self.cost_used >= self.cost_per_day
        )

    def notice(self, source: str) -> str:
        cost = (
            f", {self.cost_used:.2f} of {self.cost_per_day:.2f} estimated cost" if self.cost_per_day else ""
        )
        return (
            f"collection paused: source {source!r} spent today's budget ({self.results_used} of "
            f"{self.results_per_day} results{cost}); it resumes after midnight UTC"
        )


def budget(conn: Connection, source: dict, now: datetime | None = None) -> Budget:
    """Today's (UTC) use of a source from ``api_usage``."""
    now = now or datetime.now(UTC)
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    items, cost = conn.execute(
        text(
            "SELECT coalesce(sum(items), 0), coalesce(sum(estimated_cost), 0) FROM api_usage "
            "WHERE watch_source_id = :s AND called_at >= :d AND called_at < :e"
        ),
        {"s": source["id"], "d": day, "e": day + timedelta(days=1)},
    ).one()
    per_day = float(source["cost_per_day"]) if source["cost_per_day"] is not None else None
    return Budget(int(items), int(source["results_per_day"]), float(cost), per_day)


# -- watches ------------------------------------------------------------------------------------


def add_watch(
    conn: Connection,
    profile: str,
    *,
    source: str,
    role: str = "competitor",
    workspace: str | None = None,
    every_hours: int = 24,
) -> dict:
    """Watch a profile (URL or platform:username) through a source; returns the watch with its
    partition ``key``."""
    from postpulse.agency.workspaces import get_workspace

    ref = parse_profile(profile)
    if role not in ROLES:
        raise AgencyError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not 1 <= every_hours <= 720:
        raise AgencyError(f"--every-hours {every_hours} must be between 1 and 720")
    src = get_source(conn, source)
    ws_id = get_workspace(conn, workspace)["id"] if workspace else None
    profile_id = ensure_profile(conn, ref.platform, ref.username)
    existing = conn.execute(text("SELECT id FROM watches WHERE profile_id = :p"), {"p": profile_id}).scalar()
    if existing:
        raise AgencyError(f"{ref.key} is already watched ({existing})", fix="remove that watch first")
    conn.execute(
        text("UPDATE profiles SET is_tracked = true, profile_url = coalesce(profile_url, :u) WHERE id = :p"),
        {"p": profile_id, "u": ref.url},
    )
    row = insert_with_new_id(
        conn,
        "watches",
        {
            "profile_id": profile_id,
            "source_id": src["id"],
            "role": role,
            "workspace_id": ws_id,
            "every_hours": every_hours,
        },
    )
    return get_watch(conn, row["id"])


_WATCH = """
SELECT w.id, w.role, w.every_hours, w.is_active, w.last_collected_at, w.last_status, w.workspace_id,
       p.id AS profile_id, p.platform, p.username, p.profile_url, p.platform || ':' || p.username AS key,
       s.id AS source_id, s.name AS source, s.kind
FROM watches w JOIN profiles p ON p.id = w.profile_id JOIN watch_sources s ON s.id = w.source_id"""


def get_watch(conn: Connection, ref: str) -> dict:
    """A watch by id or partition key (``platform:username``)."""
    row = (
        conn.execute(
            text(_WATCH + " WHERE w.id = :r OR (p.platform || ':' || lower(p.username)) = lower(:r)"),
            {"r": ref},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise AgencyError(f"no watch {ref!r}", fix="see `postpulse watch list`")
    return dict(row)


def list_watches(conn: Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(text(_WATCH + " ORDER BY key")).mappings()]


def remove_watch(conn: Connection, ref: str) -> dict:
    w = get_watch(conn, ref)
    conn.execute(text("DELETE FROM watches WHERE id = :i"), {"i": w["id"]})
    return w


def due_watches(conn: Connection, now: datetime | None = None) -> list[dict]:
    """Active watches whose last collection is older than their interval."""
    now = now or datetime.now(UTC)
    rows = conn.execute(
        text(
            _WATCH + " WHERE w.is_active AND (w.last_collected_at IS NULL "
            "OR w.last_collected_at <= :now - make_interval(hours => w.every_hours)) ORDER BY key"
        ),
        {"now": now},
    ).mappings()
    return [dict(r) for r in rows]
