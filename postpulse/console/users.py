"""Console users, their roles per workspace, password checks and login throttling.

Plain Python on the store (no web framework here): the CLI (``postpulse users``) and the web
app share it. Passwords are hashed with argon2id (argon2-cffi); a plain password never leaves
this module except as the one-time password printed to the person who created it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from postpulse.errors import PostpulseError

ROLES = ("admin", "editor", "approver", "viewer", "client")

#: what each role may do (checked on the server for every page and action)
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_queue": frozenset({"admin", "editor", "approver", "viewer"}),
    "approve": frozenset({"admin", "approver"}),
    "edit_action": frozenset({"admin", "editor", "approver"}),
    "queue_action": frozenset({"admin", "editor"}),
    "view_inbox": frozenset({"admin", "editor", "approver", "viewer"}),
    "read_dm": frozenset({"admin", "editor", "approver"}),
    "view_accounts": frozenset({"admin", "editor", "approver", "viewer"}),
    "edit_accounts": frozenset({"admin"}),
    "view_reports": frozenset({"admin", "editor", "approver", "viewer", "client"}),
    "manage_users": frozenset({"admin"}),
    "view_content": frozenset({"admin", "editor", "approver", "viewer", "client"}),
    "review_content": frozenset({"admin", "approver", "client"}),
    "schedule_content": frozenset({"admin", "editor"}),
}

#: failed logins (per username, or per client address x 4) in the window before logins are refused
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")

_hasher = PasswordHasher()


class UserError(PostpulseError):
    pass


@dataclass(frozen=True)
class User:
    """A logged-in person: ``roles`` maps a workspace id (None: every workspace) to a role."""

    id: str
    username: str
    session_epoch: int
    must_change_password: bool
    roles: dict[str | None, str] = field(default_factory=dict)

    def workspaces_for(self, permission: str) -> list[str] | None:
        """Workspace ids where ``permission`` is granted; None means every workspace; [] none."""
        allowed = PERMISSIONS[permission]
        if self.roles.get(None) in allowed:
            return None
        return sorted(w for w, r in self.roles.items() if w is not None and r in allowed)

    def may(self, permission: str, workspace_id: str | None = None) -> bool:
        """``permission`` somewhere (workspace_id None) or in that workspace."""
        scope = self.workspaces_for(permission)
        if scope is None:
            return True
        return bool(scope) if workspace_id is None else workspace_id in scope

    @property
    def is_global_admin(self) -> bool:
        return self.roles.get(None) == "admin"

    def role_label(self) -> str:
        return ", ".join(
            f"{r}" if w is None else f"{r} ({w})" for w, r in sorted(self.roles.items(), key=str)
        )


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_password() -> str:
    """A random password of 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"the password is too short ({len(password)} characters)",
            fix=f"use at least {MIN_PASSWORD_LENGTH} characters",
        )


def _check_username(username: str) -> str:
    if not _USERNAME.match(username or ""):
        raise UserError(
            f"user name {username!r} is not allowed",
            fix="use 2-64 letters, digits, '.', '_', '-' or '@'",
        )
    return username


def _workspace_id(conn: Connection, workspace: str | None) -> str | None:
    if workspace is None:
        return None
    wid = conn.execute(
        text("SELECT id FROM workspaces WHERE id = :w OR lower(name) = lower(:w)"), {"w": workspace}
    ).scalar()
    if wid is None:
        names = conn.execute(text("SELECT name FROM workspaces ORDER BY name")).scalars().all()
        raise UserError(
            f"no workspace {workspace!r}", fix=f"use one of: {', '.join(names) or '(no workspaces yet)'}"
        )
    return wid


def add_user(
    conn: Connection,
    username: str,
    role: str,
    *,
    workspace: str | None = None,
    password: str | None = None,
    must_change: bool = True,
) -> tuple[str, str]:
    """Create a user with one role; returns (user id, password). Without ``password`` a random
    one-time password is made (to be changed at the first login)."""
    _check_username(username)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}", fix=f"use one of {', '.join(ROLES)}")
    wid = _workspace_id(conn, workspace)
    if role == "client" and wid is None:
        raise UserError("a client sees one workspace", fix="pass --workspace NAME for a client")
    if password is None:
        password = new_password()
    else:
        check_password_rules(password)
        must_change = False
    try:
        with conn.begin_nested():
            uid = conn.execute(
                text(
                    "INSERT INTO console_users (username, password_hash, must_change_password) "
                    "VALUES (:u, :h, :m) RETURNING id"
                ),
                {"u": username, "h": hash_password(password), "m": must_change},
            ).scalar_one()
    except IntegrityError:
        raise UserError(
            f"user {username!r} exists already", fix="pick another name, or `postpulse users list`"
        ) from None
    set_role(conn, uid, role, workspace_id=wid)
    return uid, password


def set_role(conn: Connection, user_id: str, role: str, *, workspace_id: str | None) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}", fix=f"use one of {', '.join(ROLES)}")
    conn.execute(
        text(
            "INSERT INTO console_memberships (user_id, workspace_id, role) VALUES (:u, :w, :r) "
            "ON CONFLICT (user_id, coalesce(workspace_id, '')) DO UPDATE SET role = EXCLUDED.role"
        ),
        {"u": user_id, "w": workspace_id, "r": role},
    )


def get_user_id(conn: Connection, username: str) -> str:
    uid = conn.execute(
        text("SELECT id FROM console_users WHERE lower(username) = lower(:u) OR id = :u"), {"u": username}
    ).scalar()
    if uid is None:
        raise UserError(f"no console user {username!r}", fix="see `postpulse users list`")
    return uid


def list_users(conn: Connection) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(
                "SELECT u.id, u.username, u.is_active, u.must_change_password, u.created_at, "
                "u.last_login_at, "
                "coalesce(string_agg(m.role || coalesce(' @' || w.name, ''), ', ' ORDER BY w.name NULLS "
                "FIRST), '') "
                "AS roles FROM console_users u LEFT JOIN console_memberships m ON m.user_id = u.id "
                "LEFT JOIN workspaces w ON w.id = m.workspace_id GROUP BY u.id ORDER BY lower(u.username)"
            )
        ).mappings()
    ]


def disable_user(conn: Connection, username: str) -> str:
    uid = get_user_id(conn, username)
    conn.execute(
        text("UPDATE console_users SET is_active = false, session_epoch = session_epoch + 1 WHERE id = :i"),
        {"i": uid},
    )
    return uid


def reset_password(conn: Connection, username: str, password: str | None = None) -> str:
    """A new password (one-time unless given) and a new session epoch: every session the user
    had stops working. Returns the password."""
    uid = get_user_id(conn, username)
    must_change = password is None
    if password is None:
        password = new_password()
    else:
        check_password_rules(password)
    conn.execute(
        text(
            "UPDATE console_users SET password_hash = :h, must_change_password = :m, "
            "session_epoch = session_epoch + 1, is_active = true WHERE id = :i"
        ),
        {"h": hash_password(password), "m": must_change, "i": uid},
    )
    return password


def change_own_password(conn: Connection, user_id: str, password: str) -> int:
    """The user's own new password; returns the new session epoch (the current session is
    re-issued under it, every other one ends)."""
    check_password_rules(password)
    return conn.execute(
        text(
            "UPDATE console_users SET password_hash = :h, must_change_password = false, "
            "session_epoch = session_epoch + 1 WHERE id = :i RETURNING session_epoch"
        ),
        {"h": hash_password(password), "i": user_id},
    ).scalar_one()


def load_user(conn: Connection, user_id: str, epoch: int) -> User | None:
    """The active user of a session issued under ``epoch``; None if it no longer holds."""
    row = (
        conn.execute(
            text(
                "SELECT id, username, session_epoch, must_change_password FROM console_users "
                "WHERE id = :i AND is_active AND session_epoch = :e"
            ),
            {"i": user_id, "e": epoch},
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    roles = {
        w: r
        for w, r in conn.execute(
            text("SELECT workspace_id, role FROM console_memberships WHERE user_id = :i"), {"i": user_id}
        )
    }
    return User(row["id"], row["username"], row["session_epoch"], row["must_change_password"], roles)


def login_refused(conn: Connection, username: str, address: str | None, now: datetime | None = None) -> bool:
    """Too many failed logins lately for this name or from this address: refuse without even
    checking the password (the failures are counted in the store, so restarts do not reset them)."""
    since = (now or utcnow()) - FAILURE_WINDOW
    by_name, by_address = conn.execute(
        text(
            "SELECT count(*) FILTER (WHERE username = :u), count(*) FILTER (WHERE client_address = :a) "
            "FROM console_login_attempts WHERE NOT succeeded AND attempted_at >= :s "
            "AND (username = :u OR client_address = :a)"
        ),
        {"u": username.lower(), "a": address, "s": since},
    ).one()
    return by_name >= MAX_FAILURES or by_address >= 4 * MAX_FAILURES


def authenticate(conn: Connection, username: str, password: str, address: str | None) -> User | None:
    """The user if the name and password match an active user; every attempt is counted."""
    row = (
        conn.execute(
            text(
                "SELECT id, password_hash, session_epoch FROM console_users "
                "WHERE lower(username) = lower(:u) AND is_active"
            ),
            {"u": username},
        )
        .mappings()
        .first()
    )
    ok = False
    if row is not None:
        try:
            ok = _hasher.verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        # same work for unknown names, so timing does not tell which names exist
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            pass
    conn.execute(
        text("INSERT INTO console_login_attempts (username, client_address, succeeded) VALUES (:u, :a, :s)"),
        {"u": username.lower()[:64], "a": address, "s": ok},
    )
    if not ok:
        return None
    conn.execute(text("UPDATE console_users SET last_login_at = now() WHERE id = :i"), {"i": row["id"]})
    return load_user(conn, row["id"], row["session_epoch"])


_DUMMY_HASH = _hasher.hash("not a password of anyone")


def ensure_first_admin(conn: Connection, username: str = "admin") -> str | None:
    """With no console user yet, create an admin of every workspace; returns its one-time
    password (None when users exist)."""
    if conn.execute(text("SELECT 1 FROM console_users LIMIT 1")).first() is not None:
        return None
    _, password = add_user(conn, username, "admin")
    return password
