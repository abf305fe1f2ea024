"""Small SQL helpers shared by the agency modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

MAX_ROUNDS = 64


def insert_missing(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> int:
    """Run an ``INSERT ... SELECT pp_new_id(...) ... WHERE NOT EXISTS (...) ON CONFLICT DO NOTHING``
    until a round inserts nothing; returns the rows inserted.

    Ids are drawn in SQL; a row whose id happens to collide with an existing one is skipped by
    ``ON CONFLICT DO NOTHING`` and, still missing, inserted by the next round under a new id."""
    total = 0
    for _ in range(MAX_ROUNDS):
        n = conn.execute(text(sql), params or {}).rowcount
        total += n
        if n == 0:
            return total
    return total


def find_profile(conn: Connection, platform: str, username: str) -> str | None:
    """The id of the profile ``platform``/``username`` (any case; the most recently seen one)."""
    return conn.execute(
        text(
            "SELECT id FROM profiles WHERE platform = :p AND lower(username) = lower(:u) "
            "ORDER BY last_seen_at DESC LIMIT 1"
        ),
        {"p": platform, "u": username},
    ).scalar()
