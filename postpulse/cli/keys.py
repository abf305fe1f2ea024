"""``postpulse keys status|rotate|reencrypt``: the encryption keys of DMs, sessions and tokens.

postpulse keys status      # key source, primary key id, envelopes per key id and column
postpulse keys rotate      # new primary key in the key file, then re-encrypt everything
postpulse keys reencrypt   # re-encrypt under the current primary (after changing POSTPULSE_SECRET_KEY)
"""

from __future__ import annotations

import json

import typer

from postpulse.cli.common import console, fail, open_store

app = typer.Typer(help="Encryption keys: status, rotation, re-encryption.", no_args_is_help=True)


def vault_or_fail(*, create: bool = False):
    """The vault for a CLI command; a missing, wrong or unusable key is one line and exit 1."""
    from postpulse.crypto import VaultError
    from postpulse.engagement.secrets import load_vault

    try:
        return load_vault(create=create)
    except VaultError as exc:
        fail(str(exc))


@app.command()
def status() -> None:
    """Where the keys come from and which key id each stored envelope uses (no key material)."""
    from postpulse.crypto import MissingKeyError
    from postpulse.engagement import keys
    from postpulse.engagement.secrets import load_vault

    try:
        vault = load_vault(create=False)
    except MissingKeyError as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        vault = None
    console.print_json(json.dumps(keys.status(open_store().engine, vault)))


@app.command()
def rotate(batch_size: int = typer.Option(500, "--batch-size")) -> None:
    """Add a new primary key (old ones kept to decrypt) and re-encrypt every envelope with it."""
    from postpulse.crypto import VaultError
    from postpulse.engagement import keys

    vault = vault_or_fail()
    try:
        kid, counts = keys.rotate(open_store().engine, vault, batch_size=batch_size, run_id="cli")
    except VaultError as exc:
        fail(str(exc))
    console.print(f"[green]new primary key {kid}[/green]; re-encrypted: {json.dumps(counts)}")


@app.command()
def reencrypt(batch_size: int = typer.Option(500, "--batch-size")) -> None:
    """Re-encrypt every envelope not under the primary key (resumable)."""
    from postpulse.crypto import VaultError
    from postpulse.engagement import keys

    try:
        counts = keys.reencrypt(open_store().engine, vault_or_fail(), batch_size=batch_size, run_id="cli")
    except VaultError as exc:
        fail(str(exc))
    console.print(f"re-encrypted: {json.dumps(counts)}")
