"""``postpulse keys status|check|rotate|reencrypt``: the encryption keys of DMs, sessions and tokens.

postpulse keys status      # key source, primary key id, envelopes per key id and column
postpulse keys check       # decrypt every stored envelope; list the bad ones by table/row/column
postpulse keys rotate      # new primary key, every envelope re-encrypted with it: all or nothing
postpulse keys reencrypt   # re-encrypt under the current primary (after changing POSTPULSE_SECRET_KEY)
"""

from __future__ import annotations

import json

import typer

from postpulse.cli.common import console, err_console, fail, open_store
from postpulse.crypto import VaultError

app = typer.Typer(help="Encryption keys: status, check, rotation, re-encryption.", no_args_is_help=True)


def vault_or_fail(*, create: bool = False):
    """The vault for a CLI command; a missing, wrong or unusable key is one line and exit 1.
    ``create`` makes a key file only while the store holds no encrypted data."""
    from postpulse.engagement.secrets import load_vault

    try:
        return load_vault(create=create, engine=open_store().engine if create else None)
    except VaultError as exc:
        fail(str(exc))


def _print_bad(bad) -> None:
    """The report, one row per line, on stdout; the error line that follows goes to stderr."""
    for b in bad:
        console.print(f"bad envelope: {b}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def status() -> None:
    """Where the keys come from and which key id each stored envelope uses (no key material)."""
    from postpulse.crypto import MissingKeyError
    from postpulse.engagement import keys
    from postpulse.engagement.secrets import load_vault

    try:
        vault = load_vault(create=False)
    except MissingKeyError as exc:
        err_console.print(f"[yellow]{exc}[/yellow]", highlight=False, soft_wrap=True)
        vault = None
    except VaultError as exc:  # malformed, unsafe or unreadable key file, bad variable
        fail(str(exc))
    console.print_json(json.dumps(keys.status(open_store().engine, vault)))


@app.command()
def check() -> None:
    """Decrypt every stored envelope; list those that do not (by table, row and column)."""
    from postpulse.engagement import keys

    vault = vault_or_fail()
    try:
        good, bad = keys.check(open_store().engine, vault)
    except VaultError as exc:
        fail(str(exc))
    console.print(f"decrypted: {json.dumps(good)}", highlight=False)
    if bad:
        _print_bad(bad)
        fail(f"{len(bad)} stored value(s) do not decrypt with the keyring ({vault.keyring.source})")
    console.print("[green]every stored envelope decrypts[/green]")


@app.command()
def rotate() -> None:
    """New primary key (old ones kept to decrypt), every envelope re-encrypted with it, all or
    nothing: one value that does not decrypt refuses the rotation and changes nothing."""
    from postpulse.engagement import keys

    vault = vault_or_fail()
    try:
        kid, counts = keys.rotate(open_store().engine, vault, run_id="cli")
    except VaultError as exc:  # bad envelopes (listed), or a keyring that cannot rotate here
        _print_bad(getattr(exc, "bad", []))
        fail(str(exc))
    console.print(f"[green]new primary key {kid}[/green]; re-encrypted: {json.dumps(counts)}")


@app.command()
def reencrypt(batch_size: int = typer.Option(500, "--batch-size")) -> None:
    """Re-encrypt every envelope not under the primary key (resumable; bad ones listed by row)."""
    from postpulse.engagement import keys

    try:
        counts = keys.reencrypt(open_store().engine, vault_or_fail(), batch_size=batch_size, run_id="cli")
    except VaultError as exc:
        _print_bad(getattr(exc, "bad", []))
        fail(str(exc))
    console.print(f"re-encrypted: {json.dumps(counts)}")
