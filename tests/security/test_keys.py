"""Keys and secrets: a lost key file is never silently replaced, every envelope can be checked,
rotation is all or nothing, the DM text hash is keyed, and key errors are one line."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from postpulse.crypto import Keyring, MissingKeyError, Vault
from postpulse.engagement import keys
from postpulse.engagement import repository as repo
from postpulse.engagement.dm_hash import HASH_KEY_ID, dm_hash_key, dm_text_hash, keyed
from postpulse.engagement.secrets import dm_content_aad, load_vault, session_aad
from postpulse.policy import idempotency_key, normalize_text

REPO = Path(__file__).resolve().parents[2]


def _account(engine, vault: Vault, username: str = "me") -> str:
    with engine.begin() as conn:
        acc = repo.add_account(conn, platform="x", username=username, authorize=True)["id"]
        conn.execute(
            text("UPDATE accounts SET session_encrypted = :b WHERE id = :a"),
            {"b": vault.encrypt(b'{"cookies": []}', session_aad(acc)), "a": acc},
        )
    return acc


def _dm(engine, vault: Vault, acc: str, n: int, body: str = "secret") -> list[str]:
    ids = []
    with engine.begin() as conn:
        tid = "dmt-000000aa"
        conn.execute(
            text(
                "INSERT INTO dm_threads (id, platform, platform_thread_id, account_id, participant_username) "
                "VALUES (:t, 'x', 'th1', :a, 'alice') ON CONFLICT DO NOTHING"
            ),
            {"t": tid, "a": acc},
        )
        for i in range(n):
            mid = f"dmm-0000{i:04x}"
            conn.execute(
                text(
                    "INSERT INTO dm_messages (id, platform, thread_id, is_from_us, content_encrypted, "
                    "key_id) VALUES (:m, 'x', :t, false, :b, :k)"
                ),
                {"m": mid, "t": tid, "b": vault.encrypt(f"{body} {i}", dm_content_aad(mid)), "k": "x"},
            )
            ids.append(mid)
    return ids


def _tamper(engine, mid: str) -> None:
    with engine.begin() as conn:
        blob = bytearray(
            conn.execute(text("SELECT content_encrypted FROM dm_messages WHERE id = :m"), {"m": mid}).scalar()
        )
        blob[-3] ^= 0x01
        conn.execute(
            text("UPDATE dm_messages SET content_encrypted = :b WHERE id = :m"), {"b": bytes(blob), "m": mid}
        )


def _envelopes(engine) -> dict:
    with engine.connect() as conn:
        return {
            r[0]: bytes(r[1]) for r in conn.execute(text("SELECT id, content_encrypted FROM dm_messages"))
        } | {r[0]: bytes(r[1]) for r in conn.execute(text("SELECT id, session_encrypted FROM accounts"))}


def test_missing_key_file_is_not_replaced_while_the_store_holds_envelopes(engine, tmp_path, monkeypatch):
    monkeypatch.delenv("POSTPULSE_SECRET_KEY", raising=False)
    home = tmp_path / "home"
    vault = load_vault(create=True, data_dir=home, engine=engine)  # empty store: a key is made
    key_file = home / "keys" / "keyring.json"
    assert key_file.exists()
    _account(engine, vault)
    _dm(engine, vault, _account(engine, vault, "me2"), 3)
    shutil.move(key_file, tmp_path / "moved-away.json")
    with pytest.raises(MissingKeyError) as err:
        load_vault(create=True, data_dir=home, engine=engine)
    msg = str(err.value)
    assert "refusing to create a new encryption key" in msg and str(key_file) in msg
    assert (
        "dm_messages.content: 3" in msg and "accounts.session: 2" in msg and vault.keyring.primary_kid in msg
    )
    assert not key_file.exists()  # nothing created
    # restoring the file is the fix
    shutil.move(tmp_path / "moved-away.json", key_file)
    assert (
        load_vault(create=True, data_dir=home, engine=engine).keyring.primary_kid == vault.keyring.primary_kid
    )


def test_keys_check_names_every_bad_envelope(engine):
    vault = Vault(Keyring.generate("k1"))
    acc = _account(engine, vault)
    mids = _dm(engine, vault, acc, 4)
    good, bad = keys.check(engine, vault)
    assert bad == [] and good["dm_messages.content"] == 4 and good["accounts.session"] == 1
    _tamper(engine, mids[2])
    other = Vault(Keyring.generate("k0"))  # an envelope under a key id the keyring lacks
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE dm_messages SET content_encrypted = :b WHERE id = :m"),
            {"b": other.encrypt("x", dm_content_aad(mids[0])), "m": mids[0]},
        )
    good, bad = keys.check(engine, vault)
    assert good["dm_messages.content"] == 2
    assert [(b.table, b.row_id, b.column) for b in bad] == [
        ("dm_messages", mids[0], "content_encrypted"),
        ("dm_messages", mids[2], "content_encrypted"),
    ]
    assert "'k0' is not in the keyring" in str(bad[0]) and "does not decrypt with key 'k1'" in str(bad[1])


def test_rotation_is_all_or_nothing(engine, tmp_path):
    ring = Keyring.from_file(tmp_path / "keys" / "keyring.json", create=True)
    vault = Vault(ring)
    acc = _account(engine, vault)
    mids = _dm(engine, vault, acc, 5)
    _tamper(engine, mids[3])
    before_file = (tmp_path / "keys" / "keyring.json").read_text()
    before_rows = _envelopes(engine)
    with pytest.raises(keys.BadEnvelopes) as err:
        keys.rotate(engine, vault)
    assert [(b.table, b.row_id) for b in err.value.bad] == [("dm_messages", mids[3])]
    assert "nothing changed" in str(err.value) and mids[3] in str(err.value)
    # no new key persisted, no row re-encrypted
    assert (tmp_path / "keys" / "keyring.json").read_text() == before_file
    assert Keyring.from_file(tmp_path / "keys" / "keyring.json").kids == ring.kids
    assert _envelopes(engine) == before_rows
    # once the bad row is dealt with, rotation moves everything to the new key
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM dm_messages WHERE id = :m"), {"m": mids[3]})
    old = ring.primary_kid
    kid, counts = keys.rotate(engine, vault)
    assert kid != old and counts["dm_messages.content"] == 4 and counts["accounts.session"] == 1
    fresh = Vault(Keyring.from_file(tmp_path / "keys" / "keyring.json"))
    assert fresh.keyring.primary_kid == kid and old in fresh.keyring.kids
    assert keys.status(engine, fresh)["needing_rotation"] == 0
    assert keys.check(engine, fresh)[1] == []


def test_reencrypt_is_resumable_and_reports_bad_rows(engine):
    ring = Keyring.generate("k1")
    vault = Vault(ring)
    acc = _account(engine, vault)
    mids = _dm(engine, vault, acc, 4)
    _tamper(engine, mids[1])
    ring.rotate()  # in memory: a new primary
    with pytest.raises(keys.BadEnvelopes) as err:
        keys.reencrypt(engine, vault, batch_size=2)
    assert [b.row_id for b in err.value.bad] == [mids[1]]
    usage = keys.status(engine, vault)["columns"]["dm_messages.content"]
    assert usage == {ring.primary_kid: 3, "k1": 1}  # the good ones are done


def test_dm_text_hash_is_keyed_and_survives_rotation(engine, tmp_path):
    ring = Keyring.from_file(tmp_path / "keys" / "keyring.json", create=True)
    vault = Vault(ring)
    acc = _account(engine, vault)
    msg = "Meet me at 7"
    plain = hashlib.sha256(normalize_text(msg).encode()).hexdigest()
    with engine.begin() as conn:
        first = repo.add_action(
            conn, account=acc, action_type="dm_send", target_id="alice", text_value=msg, vault=vault
        ).action
    assert first["text_hash"].startswith("h1:") and plain not in first["text_hash"]
    with engine.connect() as conn:
        key = dm_hash_key(conn, vault)
    assert first["text_hash"] == dm_text_hash(key, "meet  ME at 7")  # same normalisation as before
    # the engine uses the stored (keyed) hash, not a plain one of the text
    assert idempotency_key("dm_send", "alice", msg, first["text_hash"]) == ("alice", first["text_hash"])
    keys.rotate(engine, vault)
    with engine.begin() as conn:
        again = repo.add_action(
            conn, account=acc, action_type="dm_send", target_id="alice", text_value=msg, vault=vault
        ).action
    assert again["text_hash"] == first["text_hash"]  # idempotency holds across rotation
    # the hash key itself is an envelope, rotated and checked like the others
    assert keys.status(engine, vault)["columns"]["vault_secrets.value"] == {vault.keyring.primary_kid: 1}


def test_plain_dm_hashes_are_converted_when_the_key_is_made(engine):
    vault = Vault(Keyring.generate("k1"))
    acc = _account(engine, vault)
    with engine.begin() as conn:
        row = repo.add_action(
            conn, account=acc, action_type="dm_send", target_id="bob", text_value="hello bob", vault=vault
        ).action
        plain = hashlib.sha256(b"hello bob").hexdigest()
        # a store from before keyed hashes: plain hashes, no hash key
        conn.execute(text("DELETE FROM vault_secrets WHERE id = :i"), {"i": HASH_KEY_ID})
        conn.execute(
            text("UPDATE action_queue SET text_hash = :h WHERE id = :i"), {"h": plain, "i": row["id"]}
        )
        conn.execute(
            text(
                "INSERT INTO audit_entries (id, run_id, step_id, event_type, outcome, action_id, details) "
                "VALUES ('aud-0000abcd', 'r', 's', 'policy_block', 'failure', :a, CAST(:d AS jsonb))"
            ),
            {"a": row["id"], "d": json.dumps({"text_hash": plain})},
        )
    with engine.begin() as conn:
        key = dm_hash_key(conn, vault)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT text_hash FROM action_queue WHERE id = :i"), {"i": row["id"]}
        ).scalar()
        audited = conn.execute(text("SELECT details->>'text_hash' FROM audit_entries")).scalar()
    assert stored == keyed(key, plain) == dm_text_hash(key, "Hello Bob") == audited


def _cli(*args: str, env: dict, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "postpulse", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def _one_line_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_key_errors_are_one_line(engine, db_url, tmp_path, monkeypatch):
    monkeypatch.delenv("POSTPULSE_SECRET_KEY", raising=False)
    home = tmp_path / "home"
    env = {"DATABASE_URL": db_url, "POSTPULSE_HOME": str(home)}
    key_file = home / "keys" / "keyring.json"
    vault = Vault(Keyring.from_file(key_file, create=True))
    _account(engine, vault)
    # a missing key file with envelopes stored: actions add refuses, no new key
    moved = tmp_path / "kr.json"
    shutil.move(key_file, moved)
    line = _one_line_error(
        _cli("actions", "add", "--account", "me", "--type", "dm_send", "--to", "bob", "--text", "hi", env=env)
    )
    assert "refusing to create a new encryption key" in line and not key_file.exists()
    shutil.move(moved, key_file)
    # a wrong POSTPULSE_SECRET_KEY (another key id): MissingKeyError, one line
    wrong = base64.b64encode(os.urandom(32)).decode()
    line = _one_line_error(_cli("keys", "reencrypt", env={**env, "POSTPULSE_SECRET_KEY": wrong}))
    assert "not in the keyring" in line and wrong not in line
    # a different key under the same key id: DecryptionError, one line
    same_kid = f"{vault.keyring.primary_kid}:{wrong}"
    line = _one_line_error(_cli("keys", "rotate", env={**env, "POSTPULSE_SECRET_KEY": same_kid}))
    assert "Cannot rotate" in line or "different key" in line
    p = _cli("keys", "check", env={**env, "POSTPULSE_SECRET_KEY": same_kid})
    line = _one_line_error(p)
    assert "do not decrypt" in line and wrong not in line
    assert "accounts row acc-" in p.stdout and "different key under that key id" in p.stdout
    # keys status with a 0644 key file, then a malformed one
    os.chmod(key_file, 0o644)
    line = _one_line_error(_cli("keys", "status", env=env))
    assert "chmod 600" in line
    os.chmod(key_file, 0o600)
    key_file.write_text("{not json")
    line = _one_line_error(_cli("keys", "status", env=env))
    assert "not valid JSON" in line
