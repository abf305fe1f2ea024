"""``postpulse up``: start everything and print the Dagster UI's URL."""

from __future__ import annotations

import typer

from postpulse.cli.common import console


def up(
    port: int = typer.Option(3000, help="port of the Dagster web UI"),
    host: str = typer.Option("127.0.0.1", help="address the web UI listens on"),
    sandbox: bool = typer.Option(
        True, "--sandbox/--no-sandbox", help="start the local sandbox platform (the demo's data source)"
    ),
    sandbox_port: int = typer.Option(8765, help="port of the sandbox platform"),
    bluesky: bool = typer.Option(
        False, "--bluesky", help="also start the local AT Protocol stack with demo accounts (docs/bluesky.md)"
    ),
    console_port: int = typer.Option(3001, help="port of the team console (0: do not start it)"),
) -> None:
    """Start the store (embedded PostgreSQL unless DATABASE_URL is set), apply migrations,
    start the sandbox platform and Dagster (web UI + daemon with sensors and schedules on)."""
    from postpulse.launcher import Launcher

    Launcher(
        host=host,
        port=port,
        sandbox=sandbox,
        sandbox_port=sandbox_port,
        bluesky=bluesky,
        console_port=console_port or None,
        say=lambda m: console.print(m, highlight=False, soft_wrap=True),
    ).run()
