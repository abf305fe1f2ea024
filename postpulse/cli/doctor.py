"""``postpulse doctor``."""

from __future__ import annotations

import typer
from rich.table import Table

from postpulse.cli.common import console


def doctor(
    database: bool = typer.Option(True, "--database/--no-database", help="also connect to the store"),
) -> None:
    """Say what is installed, which database and browser are used, and how to fix what is missing."""
    from postpulse.doctor import run_checks

    checks = run_checks(database=database)
    table = Table(title="postpulse doctor", show_lines=False)
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        status = (
            "[green]ok[/green]"
            if c.ok
            else ("[red]missing[/red]" if c.required else "[yellow]optional[/yellow]")
        )
        table.add_row(c.name, status, c.detail, c.fix)
    console.print(table)
    if any(not c.ok and c.required for c in checks):
        raise typer.Exit(1)
