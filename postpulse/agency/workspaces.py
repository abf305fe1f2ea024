"""Workspaces: one per client. Each has a time zone (its weeks and days in reports) and the
accounts it runs; an archived workspace keeps its history but takes no new accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.agency.errors import AgencyError
from postpulse.ids import insert_with_new_id

MAX_NAME = 100


def check_timezone(name: str) -> str:
    """The IANA time zone ``name`` (e.g. ``Europe/Berlin``), or a clear error."""
    value = (name or "").strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        close = sorted(z for z in available_timezones() if value and value.lower() in z.lower())[:5]
        raise AgencyError(
            f"unknown time zone {name!r}",
            fix=f"use an IANA name such as {', '.join(close) if close else 'UTC or Europe/Berlin'}",
        ) from None
    return value


def _check_name(name: str) -> str:
    value = (name or "").strip()
    if not value or len(value) > MAX_NAME:
        raise AgencyError(f"workspace name {name!r} must be 1 to {MAX_NAME} characters")
    return value


def _names(conn: Connection) -> str:
    names = conn.execute(text("SELECT name FROM workspaces ORDER BY name")).scalars().all()
    return ", ".join(names) or "(none yet)"


def get_workspace(conn: Connection, ref: str) -> dict:
    """The workspace named (or with the id) ``ref``; an error listing the names otherwise."""
    row = (
        conn.execute(
            text(
                "SELECT id, name, description, status, timezone, archived_at, created_at "
                "FROM workspaces WHERE name = :r OR id = :r"
            ),
            {"r": (ref or "").strip()},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise AgencyError(
            f"no workspace named {ref!r}; workspaces: {_names(conn)}",
            fix="create it with `postpulse workspaces add NAME`",
        )
    return dict(row)


def add_workspace(
    conn: Connection, name: str, *, timezone: str = "UTC", description: str | None = None
) -> dict:
    name = _check_name(name)
    tz = check_timezone(timezone)
    if conn.execute(text("SELECT 1 FROM workspaces WHERE name = :n"), {"n": name}).first():
        raise AgencyError(f"a workspace named {name!r} already exists", fix="choose another name")
    row = insert_with_new_id(conn, "workspaces", {"name": name, "timezone": tz, "description": description})
    return get_workspace(conn, row["id"])


def ensure_workspace(conn: Connection, name: str, *, timezone: str = "UTC") -> dict:
    """The workspace ``name``, created if missing (idempotent)."""
    row = conn.execute(text("SELECT id FROM workspaces WHERE name = :n"), {"n": name}).scalar()
    return get_workspace(conn, row) if row else add_workspace(conn, name, timezone=timezone)


def list_workspaces(conn: Connection) -> list[dict]:
    rows = conn.execute(
        text(
            """SELECT w.id, w.name, w.status, w.timezone, w.archived_at,
                      count(a.id) AS accounts
               FROM workspaces w LEFT JOIN accounts a ON a.workspace_id = w.id
               GROUP BY w.id ORDER BY w.status = 'archived', w.name"""
        )
    ).mappings()
    return [dict(r) for r in rows]


def workspace_accounts(conn: Connection, workspace_id: str) -> list[dict]:
    rows = conn.execute(
        text(
            """SELECT a.id, a.platform, a.username, a.is_authorized,
                      (SELECT count(*) FROM profiles p WHERE p.account_id = a.id) AS profiles,
                      (SELECT count(*) FROM posts p WHERE p.account_id = a.id) AS posts
               FROM accounts a WHERE a.workspace_id = :w ORDER BY a.platform, a.username"""
        ),
        {"w": workspace_id},
    ).mappings()
    return [dict(r) for r in rows]


def rename_workspace(conn: Connection, ref: str, new_name: str) -> dict:
    ws = get_workspace(conn, ref)
    new_name = _check_name(new_name)
    if (
        new_name != ws["name"]
        and conn.execute(text("SELECT 1 FROM workspaces WHERE name = :n"), {"n": new_name}).first()
    ):
        raise AgencyError(f"a workspace named {new_name!r} already exists", fix="choose another name")
    conn.execute(text("UPDATE workspaces SET name = :n WHERE id = :id"), {"n": new_name, "id": ws["id"]})
    return get_workspace(conn, ws["id"])


def set_timezone(conn: Connection, ref: str, timezone: str) -> dict:
    ws = get_workspace(conn, ref)
    conn.execute(
        text("UPDATE workspaces SET timezone = :tz WHERE id = :id"),
        {"tz": check_timezone(timezone), "id": ws["id"]},
    )
    return get_workspace(conn, ws["id"])


def archive_workspace(conn: Connection, ref: str, now: datetime | None = None) -> dict:
    ws = get_workspace(conn, ref)
    if ws["status"] != "archived":
        conn.execute(
            text("UPDATE workspaces SET status = 'archived', archived_at = :t WHERE id = :id"),
            {"t": now or datetime.now(UTC), "id": ws["id"]},
        )
    return get_workspace(conn, ws["id"])


def move_account(conn: Connection, account_id: str, workspace_ref: str) -> dict:
    """Put the account in the workspace (an account belongs to one); archived ones refuse."""
    ws = get_workspace(conn, workspace_ref)
    if ws["status"] == "archived":
        raise AgencyError(
            f"workspace {ws['name']!r} is archived and takes no accounts",
            fix="choose an active workspace (`postpulse workspaces list`)",
        )
    conn.execute(
        text("UPDATE accounts SET workspace_id = :w WHERE id = :a"), {"w": ws["id"], "a": account_id}
    )
    return ws
