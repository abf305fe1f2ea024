"""Key status, check and rotation over every envelope in the store.

- ``status(engine, vault)``: key ids in use per column (reads only the envelope headers).
- ``check(engine, vault)``: decrypts every stored envelope; lists the bad ones by table, row and
  column.
- ``rotate(engine, vault)``: all or nothing. A new key is made in memory, every envelope is
  re-encrypted with it in ONE transaction, and only then is the key written to the key file
  (before the commit: if the commit fails, the file still holds the old keys too, so every row
  stays readable). One envelope that does not decrypt refuses the whole rotation, names the
  bad rows, and changes nothing: no new key, no row.
- ``reencrypt(engine, vault)``: after the primary changed outside postpulse (a new key first in
  ``POSTPULSE_SECRET_KEY``), re-encrypts in batches of ``batch_size`` rows per transaction;
  resumable (each row is rewritten atomically, an interrupted run leaves every row readable).
  Bad envelopes are skipped and reported by row at the end.
- ``refuse_new_key_over_envelopes(engine, where)``: a new key is never created while the store
  holds envelopes: they were encrypted with a key that is missing, and must be restored.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.crypto import (
    DecryptionError,
    Keyring,
    MissingKeyError,
    Vault,
    VaultError,
)

from . import audit
from .dm_hash import rehash_legacy_rows
from .envelopes import COLUMNS, Column, envelope_counts, refuse_new_key_over_envelopes

__all__ = [
    "COLUMNS",
    "BadEnvelope",
    "BadEnvelopes",
    "Column",
    "check",
    "envelope_counts",
    "reencrypt",
    "refuse_new_key_over_envelopes",
    "rotate",
    "status",
]


@dataclass(frozen=True)
class BadEnvelope:
    table: str
    row_id: str
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.table} row {self.row_id} column {self.column}: {self.reason}"


class BadEnvelopes(VaultError):
    """Stored envelopes that do not decrypt; ``bad`` lists them by row."""

    def __init__(self, message: str, bad: list[BadEnvelope]) -> None:
        self.bad = bad
        super().__init__(message)


def _reason(exc: VaultError, kid: str | None) -> str:
    if isinstance(exc, MissingKeyError):
        return f"key id {exc.kid or kid!r} is not in the keyring (restore the key that holds it)"
    if isinstance(exc, DecryptionError) and kid:
        return (
            f"does not decrypt with key {kid!r}: altered, copied from another row, or a different key "
            "under that key id"
        )
    return str(exc).split(";")[0]


def _rows(conn: Connection, c: Column, *, lock: bool = False) -> Iterator[tuple[str, object]]:
    sql = c.select_sql + " ORDER BY id" + (" FOR UPDATE" if lock else "")
    yield from conn.execute(text(sql))


def _try_decrypt(vault: Vault, c: Column, rid: str, value: object) -> tuple[bytes | None, BadEnvelope | None]:
    """(envelope, None) if it decrypts, else (None, the bad envelope named)."""
    kid = None
    try:
        env = c.envelope(value)
        kid = Vault.key_id(env)
        vault.decrypt(env, c.aad(rid))
        return env, None
    except VaultError as exc:
        return None, BadEnvelope(c.table, rid, c.column, _reason(exc, kid))


# -- reading -------------------------------------------------------------------------------------


def status(engine: Engine, vault: Vault | None) -> dict:
    """Key ids in use per column (reads only the envelope headers)."""
    usage: dict[str, Counter] = {}
    with engine.connect() as conn:
        for c in COLUMNS:
            cnt: Counter = Counter()
            for _, value in _rows(conn, c):
                try:
                    cnt[Vault.key_id(c.envelope(value))] += 1
                except VaultError:
                    cnt["<malformed>"] += 1
            usage[c.name] = cnt
    out: dict[str, Any] = {"columns": {k: dict(v) for k, v in usage.items()}}
    if vault is not None:
        out.update(
            {
                "primary": vault.keyring.primary_kid,
                "keys": list(vault.keyring.kids),
                "source": vault.keyring.source,
            }
        )
        out["needing_rotation"] = sum(
            n for v in usage.values() for k, n in v.items() if k != vault.keyring.primary_kid
        )
    return out


def check(engine: Engine, vault: Vault) -> tuple[dict[str, int], list[BadEnvelope]]:
    """Decrypt every stored envelope: (good envelopes per column, the bad ones by row)."""
    good: dict[str, int] = {}
    bad: list[BadEnvelope] = []
    with engine.connect() as conn:
        for c in COLUMNS:
            n = 0
            for rid, value in _rows(conn, c):
                env, problem = _try_decrypt(vault, c, rid, value)
                if problem:
                    bad.append(problem)
                else:
                    n += env is not None
            good[c.name] = n
    return good, bad


# -- rewriting -----------------------------------------------------------------------------------


def _bad_message(what: str, bad: list[BadEnvelope]) -> str:
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"{what}: {len(bad)} stored value(s) do not decrypt; first: {bad[0]}{more}"


def rotate(engine: Engine, vault: Vault, *, run_id: str = "keys") -> tuple[str, dict[str, int]]:
    """New primary key and every envelope re-encrypted with it, all or nothing (module doc).

    Returns (new key id, envelopes re-encrypted per column); raises ``BadEnvelopes`` (nothing
    changed) if any stored envelope does not decrypt."""
    t0 = time.perf_counter()
    ring: Keyring = vault.keyring
    old = ring.primary_kid
    staged = ring.staged_rotation()
    new_vault = Vault(staged)
    counts: dict[str, int] = {}
    bad: list[BadEnvelope] = []
    with engine.begin() as conn:
        for c in COLUMNS:
            n = 0
            for rid, value in list(_rows(conn, c, lock=True)):
                env, problem = _try_decrypt(new_vault, c, rid, value)
                if problem:
                    bad.append(problem)
                    continue
                c.update(conn, rid, new_vault.reencrypt(env, c.aad(rid)), staged.primary_kid)
                n += 1
            counts[c.name] = n
        if bad:  # raising inside the transaction rolls every re-encrypted row back
            raise BadEnvelopes(
                _bad_message(f"key rotation refused, nothing changed (primary key stays {old!r})", bad)
                + ". Restore or delete those rows (`postpulse keys check` lists them all), then rotate again",
                bad,
            )
        rehash_legacy_rows(conn, new_vault)
        audit.record(
            conn,
            run_id=run_id,
            step_id="rotate",
            event_type="key_rotation",
            outcome="success",
            duration_ms=int((time.perf_counter() - t0) * 1000),
            details={"primary_kid": staged.primary_kid, "previous_kid": old, "reencrypted": counts},
        )
        # persisted before the commit: should the commit fail, the file still has the old keys
        kid = ring.adopt(staged)
    return kid, counts


def _rewrap_in_batches(
    engine: Engine, c: Column, vault: Vault, batch_size: int, bad: list[BadEnvelope]
) -> int:
    """Walk ``c``'s rows in id order, a locked batch per transaction; re-encrypt those not under
    the primary key; bad ones are collected and skipped."""
    done, last = 0, ""
    primary = vault.keyring.primary_kid
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                text(f"{c.select_sql} AND id > :last ORDER BY id LIMIT :n FOR UPDATE"),
                {"last": last, "n": batch_size},
            ).all()
            if not rows:
                return done
            for rid, value in rows:
                last = rid
                try:
                    env = c.envelope(value)
                    if not vault.needs_rotation(env):
                        continue
                except VaultError:
                    pass  # malformed: _try_decrypt names it
                env, problem = _try_decrypt(vault, c, rid, value)
                if problem:
                    bad.append(problem)
                    continue
                c.update(conn, rid, vault.reencrypt(env, c.aad(rid)), primary)
                done += 1


def reencrypt(engine: Engine, vault: Vault, *, batch_size: int = 500, run_id: str = "keys") -> dict[str, int]:
    """Re-encrypt every envelope not under the primary key; returns counts per column. Bad
    envelopes are skipped and raised at the end as ``BadEnvelopes`` (the good ones are done)."""
    t0 = time.perf_counter()
    primary = vault.keyring.primary_kid
    counts: dict[str, int] = {}
    bad: list[BadEnvelope] = []
    for c in COLUMNS:
        counts[c.name] = _rewrap_in_batches(engine, c, vault, batch_size, bad)
    with engine.begin() as conn:
        rehash_legacy_rows(conn, vault)
        audit.record(
            conn,
            run_id=run_id,
            step_id="reencrypt",
            event_type="key_rotation",
            outcome="failure" if bad else "success",
            duration_ms=int((time.perf_counter() - t0) * 1000),
            details={"primary_kid": primary, "reencrypted": counts, "bad_envelopes": len(bad)},
        )
    if bad:
        raise BadEnvelopes(
            _bad_message(f"re-encrypted {sum(counts.values())} value(s) under {primary!r}, but", bad)
            + ". Restore the missing key or delete those rows, then run `postpulse keys reencrypt` again",
            bad,
        )
    return counts
