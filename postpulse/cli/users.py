"""``postpulse users ...``: people who log in to the web console, and their roles.

postpulse users add ana --role approver [--workspace acme]   # prints a one-time password
postpulse users list
postpulse users disable ana
postpulse users reset-password ana                           # prints a new one-time password
"""

from __future__ import annotations

from contextlib import contextmanager

import typer
from rich.markup import escape
from rich.table import Table

from postpulse.cli.common import console, fail, open_store

app = typer.Typer(help="Console users: add, list, disable, reset a password.", no_args_is_help=True)


def _engine():
    return open_store().engine


@contextmanager
def _transaction():
    """A store transaction; a user error is one line on stderr and exit code 1."""
    from postpulse.console.users import UserError

    try:
        with _engine().begin() as conn:
            yield conn
    except UserError as exc:
        fail(str(exc))


@app.command("add")
def add(
    username: str = typer.Argument(..., help="the name to log in with"),
    role: str = typer.Option(..., "--role", help="admin, editor, approver, viewer or client"),
    workspace: str | None = typer.Option(
        None, "--workspace", "-w", help="the workspace the role holds in (default: every workspace)"
    ),
) -> None:
    """Add a user with a role; prints a one-time password to change at the first login."""
    from postpulse.console import users

    with _transaction() as conn:
        _, password = users.add_user(conn, username, role, workspace=workspace)
    where = f" @ {escape(workspace)}" if workspace else ""
    console.print(f"[green]user {escape(username)} added[/green] ({escape(role)}{where})")
    console.print(f"one-time password: {password}", highlight=False)


@app.command("list")
def list_() -> None:
    """Users, their roles and their last login."""
    from postpulse.console import users

    with _engine().connect() as conn:
        rows = users.list_users(conn)
    t = Table("id", "user", "roles", "active", "last login")
    for r in rows:
        t.add_row(
            r["id"],
            escape(r["username"]),
            escape(r["roles"]),
            "yes" if r["is_active"] else "disabled",
            f"{r['last_login_at']:%Y-%m-%d %H:%M}" if r["last_login_at"] else "never",
        )
    console.print(t)


@app.command("disable")
def disable(username: str) -> None:
    """Disable a user: their sessions end and they cannot log in (reset-password re-enables)."""
    from postpulse.console import users

    with _transaction() as conn:
        users.disable_user(conn, username)
    console.print(f"[yellow]user {escape(username)} disabled[/yellow]")


@app.command("reset-password")
def reset_password(username: str) -> None:
    """A new one-time password; every session of the user ends."""
    from postpulse.console import users

    with _transaction() as conn:
        password = users.reset_password(conn, username)
    console.print(f"new one-time password for {escape(username)}: {password}", highlight=False)
