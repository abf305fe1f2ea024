"""``postpulse console [--port N]``: the team console on its own (without Dagster)."""

from __future__ import annotations

import typer

from postpulse.cli.common import console, open_store


def console_command(
    port: int = typer.Option(3001, "--port", help="port of the console"),
    host: str = typer.Option("127.0.0.1", "--host", help="address the console listens on"),
) -> None:
    """Serve the team console (log in, approve actions, read the inbox, client reports)."""
    from postpulse.console.server import first_admin_password, make_server, settings_from_env

    store = open_store()
    password = first_admin_password(store.engine)
    if password:
        console.print(
            f"first console user: admin, one-time password: {password} (choose your own at the first login)",
            highlight=False,
        )
    console.print(f"console at http://{host}:{port}  (Ctrl-C stops it)", highlight=False)
    make_server(store.engine, settings_from_env(host), host, port).run()


def register(app: typer.Typer) -> None:
    app.command("console")(console_command)
