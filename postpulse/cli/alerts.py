"""``postpulse alerts ...``: the alerts raised, a test message through every channel, and the
vault-encrypted form of the SMTP password for alerts.toml.

postpulse alerts list [--limit 20] [--format json]
postpulse alerts test
postpulse alerts encrypt-secret      # reads the password from the terminal (or stdin)
"""

from __future__ import annotations

import json
import sys

import typer
from rich.markup import escape
from rich.table import Table

from postpulse.cli.common import console, fail, open_store, plain

app = typer.Typer(help="Alerts: list them, test the channels (alerts.toml).", no_args_is_help=True)


@app.command("list")
def list_(
    limit: int = typer.Option(20, "--limit"),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json"),
) -> None:
    """The newest alerts and whether each was sent."""
    from sqlalchemy import text

    if fmt not in ("table", "json"):
        fail(f"--format {fmt!r}: use table or json")
    with open_store().engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT id, kind, severity, title, link, created_at, sent_at, deliveries FROM alerts "
                    "ORDER BY created_at DESC, id LIMIT :n"
                ),
                {"n": limit},
            ).mappings()
        ]
    if fmt == "json":
        console.print_json(json.dumps(rows, default=str))
        return
    t = Table("when (UTC)", "kind", "alert", "sent")
    for r in rows:
        failed = [k for k, v in (r["deliveries"] or {}).items() if not v.get("ok")]
        sent = "yes" if r["sent_at"] else ("failed: " + ", ".join(failed) if failed else "pending")
        t.add_row(f"{r['created_at']:%m-%d %H:%M}", r["kind"], escape(plain(r["title"])), sent)
    console.print(t)


@app.command()
def test() -> None:
    """Send a test message through every configured channel (nothing is recorded)."""
    from postpulse.alerts import Alert, load_config
    from postpulse.alerts.channels import ChannelError, channels_for

    cfg = load_config()
    channels = channels_for(cfg)
    if not channels:
        fail(
            f"no channels configured: write {cfg.source if cfg.source != '(defaults)' else 'alerts.toml'} "
            "(see docs/operations.md)"
        )
    probe = Alert(
        "digest",
        "test",
        "test alert from postpulse",
        "If you read this, alerts reach you.",
        severity="info",
        link=cfg.dagster_url,
    )
    bad = False
    for ch in channels:
        try:
            ch.send(probe)
            console.print(f"{ch.name}: [green]sent[/green]")
        except ChannelError as exc:
            bad = True
            console.print(f"{ch.name}: [red]{escape(str(exc))}[/red]", highlight=False)
    if bad:
        raise typer.Exit(1)


@app.command("encrypt-secret")
def encrypt_secret() -> None:
    """Encrypt the SMTP password with the vault; put the output in alerts.toml as
    ``password_encrypted``."""
    from postpulse.alerts.config import SMTP_PASSWORD_AAD
    from postpulse.cli.keys import vault_or_fail
    from postpulse.crypto import envelope_to_text

    secret = typer.prompt("SMTP password", hide_input=True) if sys.stdin.isatty() else sys.stdin.readline()
    secret = secret.rstrip("\n")
    if not secret:
        fail("empty password")
    console.print(
        envelope_to_text(vault_or_fail(create=True).encrypt(secret, SMTP_PASSWORD_AAD)), soft_wrap=True
    )
