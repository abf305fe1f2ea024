"""The ``postpulse`` command line. Each area adds its commands from its own module."""

from __future__ import annotations

import sys

import typer

from postpulse.cli import db, doctor, up
from postpulse.cli.common import console, fail
from postpulse.errors import PostpulseError

app = typer.Typer(
    name="postpulse",
    help="postpulse: social media metrics and engagement pipeline on Dagster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("up")(up.up)
app.command("doctor")(doctor.doctor)
app.add_typer(db.app, name="db")


# Sub-command groups of each area: (module under postpulse.cli, command name).
AREA_COMMANDS: list[tuple[str, str | None]] = [
    ("sandbox", "sandbox"),
    ("analytics", None),
    ("ingest", None),
    ("actions", "actions"),
    ("accounts", "accounts"),
    ("keys", "keys"),
    ("alerts", "alerts"),
    ("bluesky", "bluesky"),
    ("agency", None),
    ("watch", "watch"),
    ("users", "users"),
    ("platforms", "platforms"),
    ("console", None),
    ("content", "content"),
]


def _register_areas() -> None:
    import importlib

    for module_name, command in AREA_COMMANDS:
        module = importlib.import_module(f"postpulse.cli.{module_name}")
        if command is None:
            module.register(app)
        else:
            app.add_typer(module.app, name=command)


_register_areas()


def main() -> None:
    try:
        app()
    except PostpulseError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
