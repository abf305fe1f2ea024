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


def redraw_colliding_ids(
    conn: Connection, staged: str, prefix: str, target: str, *, redraw_all: bool = False
) -> None:
    """Make the ``id`` column of the temp table ``staged`` (drawn in SQL with ``pp_new_id``)
    unique among itself and free in ``target``: the few that collide are drawn again until none
    does (all of them first with ``redraw_all``). Table names come from code, never input.

    The insert that follows is then plain (no ``ON CONFLICT``), the fast path for many rows."""
    if redraw_all:
        conn.execute(text(f"UPDATE {staged} SET id = pp_new_id(:p)"), {"p": prefix})
    for _ in range(MAX_ROUNDS):
        n = conn.execute(
            text(
                f"""UPDATE {staged} s SET id = pp_new_id(:p)
                    WHERE s.ctid IN (
                      SELECT ctid FROM (SELECT ctid, row_number() OVER (PARTITION BY id) AS k FROM {staged}) d
                      WHERE d.k > 1
                      UNION ALL
                      SELECT x.ctid FROM {staged} x JOIN {target} t ON t.id = x.id)"""
            ),
            {"p": prefix},
        ).rowcount
        if n == 0:
            return
    raise RuntimeError(f"could not draw free ids for {target}")
