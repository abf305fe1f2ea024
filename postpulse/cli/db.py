"""``postpulse db upgrade|downgrade|reset|status``: the schema, through Alembic."""

from __future__ import annotations

import typer

from postpulse.cli.common import console, open_store
from postpulse.store import migrate

app = typer.Typer(
    help="Manage the store's schema (Alembic migrations under sql/migrations).", no_args_is_help=True
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
