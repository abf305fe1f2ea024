"""``postpulse db upgrade|downgrade|reset|status``: the schema, through Alembic;
``postpulse db backup|backups|restore``: backups of the store (pg_dump custom format)."""

from __future__ import annotations

import sys

import typer

from postpulse.cli.common import console, open_store
from postpulse.store import migrate

app = typer.Typer(
    help="The store: schema (Alembic migrations under sql/migrations), backups and restores.",
    no_args_is_help=True,
)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from postpulse.analytics.reader_role import refresh_reader_role

    store = open_store()
    migrate.upgrade(store.urls.app, revision)
    note = refresh_reader_role(store.urls.app)  # the analytics' read-only role and its grants
    if note:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    console.print(
        f"[green]schema at {migrate.status(store.urls.app).current}[/green] ({store.urls.display()})"
    )


@app.command()
def downgrade(
    revision: str = typer.Argument("-1", help="target revision, -1 for one step, base for none"),
) -> None:
    """Revert migrations down to REVISION."""
    store = open_store()
    migrate.downgrade(store.urls.app, revision)
    console.print(f"[yellow]schema at {migrate.status(store.urls.app).current or 'base (empty)'}[/yellow]")


@app.command()
def reset(
    yes: bool = typer.Option(False, "--yes", help="confirm that all postpulse data is deleted"),
) -> None:
    """Drop every postpulse table and recreate the schema. Deletes all data."""
    store = open_store()
    if not yes:
        typer.confirm(f"Delete ALL postpulse data in {store.urls.display()}?", abort=True)
    migrate.reset(store.urls.app)
    console.print(f"[green]schema reset to {migrate.head_revision()}[/green]")


@app.command()
def status() -> None:
    """Show the database in use and whether its schema is up to date."""
    store = open_store()
    st = migrate.status(store.urls.app)
    kind = "embedded" if store.urls.embedded else "DATABASE_URL"
    console.print(f"database: {store.urls.display()} ({kind}, PostgreSQL {store.server_version})")
    console.print(f"schema:   {st.current or 'empty'} (newest {st.head})")
    if st.up_to_date:
        console.print("[green]up to date[/green]")
    else:
        console.print(f"[yellow]pending: {', '.join(st.pending)}[/yellow] — run `postpulse db upgrade`")


@app.command()
def backup(
    to: str | None = typer.Option(
        None, "--to", help="folder (default: POSTPULSE_BACKUP_DIR or $POSTPULSE_HOME/backups)"
    ),
) -> None:
    """Back up the whole store (pg_dump, custom format). The key file is not in it: back it up too."""
    from pathlib import Path

    from postpulse import backups

    store = open_store()
    b = backups.backup(store.urls.app, Path(to).expanduser() if to else None)
    console.print(
        f"[green]{b.path}[/green] ({b.size / 1e6:.1f} MB in {b.seconds:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        "[dim]the encryption key is not in the backup: keep a copy of it (`postpulse keys status`)[/dim]"
    )


@app.command("backups")
def list_backups(
    to: str | None = typer.Option(None, "--to", help="folder (default: the backup folder)"),
) -> None:
    """List backups, newest first."""
    from pathlib import Path

    from postpulse import backups

    found = backups.list_backups(Path(to).expanduser() if to else None)
    for p in found:
        console.print(f"{p}  {p.stat().st_size / 1e6:.1f} MB", highlight=False, soft_wrap=True)
    if not found:
        console.print(f"no backups in {Path(to) if to else backups.backup_dir()}")


@app.command()
def restore(
    file: str = typer.Argument(..., help="a file written by `postpulse db backup`"),
    yes: bool = typer.Option(False, "--yes", help="confirm: the store's data is replaced by the backup's"),
) -> None:
    """Replace the store's data with a backup (one transaction: a failure changes nothing).
    Stop `postpulse up` first."""
    from pathlib import Path

    from postpulse import backups
    from postpulse.cli.common import fail

    path = Path(file).expanduser()
    if not path.is_file():
        fail(f"backup file {path} does not exist (see `postpulse db backups`)")
    store = open_store()
    if not yes:
        if not sys.stdin.isatty():
            fail("restore replaces all data in the store: pass --yes to confirm")
        typer.confirm(f"Replace ALL data in {store.urls.display()} with {path.name}?", abort=True)
    n = backups.restore(path, store.urls.app)
    st = migrate.status(store.urls.app)
    console.print(
        f"[green]restored {path.name}[/green] ({n} objects); schema at {st.current}", highlight=False
    )
    if not st.up_to_date:
        console.print("[yellow]the backup's schema is older: run `postpulse db upgrade`[/yellow]")
