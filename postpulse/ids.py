"""Identifiers ``{prefix}-{8 hex}`` drawn from a CSPRNG, allocated collision-safely.

32 random bits collide with 50% odds at ~77,000 rows, so a fresh identifier is never trusted
blindly: allocation checks candidates against the table and against each other, and inserts
that still lose a race (another process took the same id) are retried with new ids.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TypeVar

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

# Tests shrink this to force collisions; production always uses 8 (32 bits).
HEX_DIGITS = 8
MAX_ROUNDS = 64

PREFIXES = {
    "workspaces": "wsp",
    "accounts": "acc",
    "account_state_history": "ash",
    "profiles": "prf",
    "posts": "p",
    "tags": "tag",
    "profile_tags": "pft",
    "post_tags": "ptg",
    "post_media": "med",
    "comments": "cmt",
    "download_runs": "run",
    "data_downloads": "dl",
    "rejected_records": "rej",
    "hashtags": "hsh",
    "api_usage": "apu",
    "publications": "pub",
    "content_items": "cnt",
    "message_templates": "tpl",
    "action_queue": "act",
    "action_attempts": "att",
    "verification_results": "ver",
    "dm_threads": "dmt",
    "dm_messages": "dmm",
    "blocklist_entries": "blk",
    "audit_entries": "aud",
    "tag_rules": "trl",
    "profile_snapshots": "psn",
    "watch_sources": "wsr",
    "watches": "wch",
    "alerts": "alr",
    "content_item_history": "cih",
    "content_variants": "cvr",
    "media_assets": "mda",
}

_ID_RE = re.compile(r"^[a-z]{1,4}-[0-9a-f]{1,8}$")
T = TypeVar("T")


class IdSpaceExhausted(RuntimeError):
    """No free identifier could be found: the (test-shrunk) id space is full."""


def new_id(prefix: str, digits: int | None = None) -> str:
    """A fresh random identifier such as ``p-1a2b3c4d``."""
    n = digits or HEX_DIGITS
    return f"{prefix}-{secrets.randbits(4 * n):0{n}x}"


def _draw(prefix: str, k: int) -> set[str]:
    """Up to ``k`` fresh random identifiers (one CSPRNG call for all of them)."""
    n = HEX_DIGITS
    h = secrets.token_hex((n * k + 1) // 2)
    return {f"{prefix}-{h[i : i + n]}" for i in range(0, n * k - n + 1, n)}


def draw_ids(table: str, n: int, *, avoid: AbstractSet[str] = frozenset()) -> list[str]:
    """``n`` distinct fresh ids for ``table``, none of them in ``avoid``, *not* checked against
    the table: for bulk writers that let the primary key catch the rare taken one and then
    check with :func:`allocate_ids`."""
    if table not in PREFIXES:
        raise ValueError(f"unknown table {table!r} for id allocation")
    chosen: set[str] = set()
    for _ in range(MAX_ROUNDS):
        need = n - len(chosen)
        if need <= 0:
            return list(chosen)[:n]
        chosen |= _draw(PREFIXES[table], need + need // 8 + 4) - avoid
    raise IdSpaceExhausted(f"could not draw {n} fresh ids for {table} with {HEX_DIGITS} hex digits")


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.match(value or ""))


def allocate_ids(
    conn: Connection, table: str, n: int, *, prefix: str | None = None, id_column: str = "id"
) -> list[str]:
    """``n`` distinct ids not present in ``table`` right now.

    A concurrent writer can still take one of them before we insert; callers insert inside
    ``retry_on_id_collision`` so that case is retried with new ids.
    """
    if table not in PREFIXES:
        raise ValueError(f"unknown table {table!r} for id allocation")
    prefix = prefix or PREFIXES[table]
    chosen: set[str] = set()
    for _ in range(MAX_ROUNDS):
        need = n - len(chosen)
        if need <= 0:
            break
        candidates = _draw(prefix, need + need // 8 + 4) - chosen
        taken = set(
            conn.execute(
                text(f"SELECT {id_column} FROM {table} WHERE {id_column} = ANY(:ids)"),
                {"ids": list(candidates)},
            ).scalars()
        )
        for cand in candidates - taken:
            if len(chosen) >= n:
                break
            chosen.add(cand)
    if len(chosen) < n:
        raise IdSpaceExhausted(f"could not allocate {n} free ids for {table} with {HEX_DIGITS} hex digits")
    return list(chosen)


def is_id_collision(exc: IntegrityError | psycopg.IntegrityError, table: str) -> bool:
    """True when the violated constraint is the table's primary key (an id collision); ``exc``
    comes from SQLAlchemy or, for a ``COPY`` on the raw connection, from psycopg."""
    diag = getattr(getattr(exc, "orig", exc), "diag", None)
    name = getattr(diag, "constraint_name", None) or ""
    return name == f"{table}_pkey" or name == f"pk_{table}"


def retry_on_id_collision(conn: Connection, table: str, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` in a savepoint; on a primary-key collision roll back and retry.

    ``attempt`` must allocate its ids afresh on each call.
    """
    for _ in range(MAX_ROUNDS):
        savepoint = conn.begin_nested()
        try:
            result = attempt()
        except (IntegrityError, psycopg.IntegrityError) as exc:
            savepoint.rollback()
            if not is_id_collision(exc, table):
                raise
            continue
        savepoint.commit()
        return result
    raise IdSpaceExhausted(f"gave up after {MAX_ROUNDS} id collisions on {table}")


def insert_with_new_id(
    conn: Connection, table: str, values: dict, *, returning: Sequence[str] = ("id",)
) -> dict:
    """Insert one row under a fresh id, retrying on id collisions. Returns the RETURNING row.

    ``values`` must not contain ``id``. Column names come from code, never from input.
    """
    cols = ["id", *values.keys()]
    sql = text(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
        f"({', '.join(':' + c for c in cols)}) RETURNING {', '.join(returning)}"
    )

    def attempt() -> dict:
        (row_id,) = allocate_ids(conn, table, 1)
        row = conn.execute(sql, {"id": row_id, **values}).mappings().one()
        return dict(row)

    return retry_on_id_collision(conn, table, attempt)
