"""DM sync (encrypted, opt-outs), sessions at rest, keys (wrong, missing, rotation), tampering,
a dump of the whole database searched for DM plaintext, and retention."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text

from postpulse.crypto import DecryptionError, Keyring, MissingKeyError, Vault
from postpulse.engagement import keys
from postpulse.engagement.dm_sync import read_messages, sync_account
from postpulse.engagement.executor import Executor, ExecutorConfig
from postpulse.engagement.retention import run_retention
from postpulse.engagement.sessions import load_session
from postpulse.store.urls import libpq_url
from tests.engagement.conftest import action_row, executor, make_account, queue

pytestmark = pytest.mark.browser

SECRET_DMS = ["Meet me at the blue door at 7, code 4417", "STOP", "psst the launch is on friday"]


def _dump_database(db_url: str) -> bytes:
    """Every table of the database, as COPY text (what pg_dump's data section contains)."""
    url = libpq_url(db_url)
    out = io.BytesIO()
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
            "('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            with conn.cursor().copy(f'COPY "{schema}"."{table}" TO STDOUT') as copy:
                for data in copy:
                    out.write(bytes(data))
    return out.getvalue()


def test_dm_sync_encrypted_opt_out_and_dump(engine, db_url, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    others = sorted(u for u, p in sandbox.world.profiles["x"].items() if not p.is_ours)
    alice, bob = others[0], others[1]
    now = sandbox.clock.now()
    sandbox.world.send_dm("x", alice, "demo_x", SECRET_DMS[0], now)
    sandbox.world.send_dm("x", bob, "demo_x", SECRET_DMS[1], now)
    out = queue(engine, vault, acc, "dm_send", alice, text_value=SECRET_DMS[2])
    executor(engine, vault, sandbox, browser).run_batch()
    assert action_row(engine, out)["status"] == "completed"

    counts = sync_account(engine, vault, acc, browser=browser, base_url=sandbox.base_url)
    assert counts["opt_outs"] == 1 and counts["new_messages"] >= 2
    again = sync_account(engine, vault, acc, browser=browser, base_url=sandbox.base_url)
    assert again["new_messages"] == 0  # idempotent
    with engine.connect() as conn:
        threads = {r[1]: r[0] for r in conn.execute(text("SELECT id, participant_username FROM dm_threads"))}
        msgs = read_messages(conn, vault, threads[alice])
        assert [m["text"] for m in msgs][-2:] == [
            SECRET_DMS[0],
            SECRET_DMS[2],
        ]  # after the world's seeded DMs
        kid = conn.execute(text("SELECT DISTINCT key_id FROM dm_messages")).scalars().all()
        assert kid == [vault.keyring.primary_kid]
        entry = conn.execute(text("SELECT value, added_by, platform FROM blocklist_entries")).one()
        assert tuple(entry) == (bob, "opt_out", "x")
        opt = conn.execute(
            text("SELECT details::text FROM audit_entries WHERE event_type = 'opt_out'")
        ).scalar()
        assert "STOP" not in opt
    # no further DMs (or anything else) to the user who opted out
    blocked = queue(engine, vault, acc, "dm_send", bob, text_value="one more thing")
    executor(engine, vault, sandbox, browser).run_batch()
    row = action_row(engine, blocked)
    assert row["status"] == "rejected" and row["last_reason_code"] == "opted_out"

    dump = _dump_database(db_url)
    assert len(dump) > 5_000
    for secret in SECRET_DMS[0::2] + ["one more thing"]:
        assert secret.encode() not in dump, f"DM text {secret!r} found in plain in the database"
    assert b"blue door" not in dump and b"launch is on friday" not in dump


def test_session_at_rest_and_wrong_keys(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    with engine.connect() as conn:
        blob = bytes(
            conn.execute(text("SELECT session_encrypted FROM accounts WHERE id = :a"), {"a": acc}).scalar()
        )
        state = load_session(conn, vault, acc)
    cookie = state["cookies"][0]["value"]
    assert cookie.encode() not in blob and b"sandbox_session" not in blob
    # wrong key under another id: clear MissingKeyError naming the key id
    with engine.connect() as conn, pytest.raises(MissingKeyError, match="test1"):
        load_session(conn, Vault(Keyring.generate("other")), acc)
    # wrong key under the same id: DecryptionError, never garbage
    with engine.connect() as conn, pytest.raises(DecryptionError):
        load_session(conn, Vault(Keyring.generate("test1")), acc)
    # a session copied into another account's row does not decrypt (associated data)
    other = make_account(engine, vault, sandbox, browser, username="demo2_x", login=False)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET session_encrypted = :b WHERE id = :a"), {"b": blob, "a": other}
        )
    with engine.connect() as conn, pytest.raises(DecryptionError):
        load_session(conn, vault, other)
    # missing key: no env var, no key file -> a clear error, no new key that decrypts nothing
    from postpulse.engagement.secrets import load_vault

    os.environ.pop("POSTPULSE_SECRET_KEY", None)
    with pytest.raises(MissingKeyError, match="does not exist"):
        load_vault(create=False, data_dir="/nonexistent-postpulse-keys")
    # the executor reports the wrong key per action instead of crashing
    aid = queue(engine, vault, acc, "like", "1")
    Executor(
        engine,
        Vault(Keyring.generate("zzz")),
        browser=browser,
        config=ExecutorConfig(base_url=sandbox.base_url),
    ).run_batch()
    row = action_row(engine, aid)
    assert (
        row["last_reason_code"] == "decryption_failed" and row["status"] == "approved"
    )  # waits for the right key
    assert "'test1'" in row["last_error"] and "not in the keyring" in row["last_error"]


def test_tampered_dm_detected_and_rotation(engine, vault, sandbox, browser, tmp_path):
    ring = Keyring.from_file(tmp_path / "keys" / "keyring.json", create=True)
    fvault = Vault(ring)
    assert oct((tmp_path / "keys" / "keyring.json").stat().st_mode & 0o777) == "0o600"
    acc = make_account(engine, fvault, sandbox, browser)
    user = sorted(u for u, p in sandbox.world.profiles["x"].items() if not p.is_ours)[2]
    sandbox.world.send_dm("x", user, "demo_x", "rotation test message", sandbox.clock.now())
    sync_account(engine, fvault, acc, browser=browser, base_url=sandbox.base_url)
    old = ring.primary_kid
    before = keys.status(engine, fvault)
    assert before["needing_rotation"] == 0
    kid, counts = keys.rotate(engine, fvault)
    assert kid != old and counts["dm_messages.content"] >= 1 and counts["accounts.session"] == 1
    after = keys.status(engine, fvault)
    assert after["needing_rotation"] == 0 and set(after["columns"]["dm_messages.content"]) == {kid}
    with engine.connect() as conn:
        tid = conn.execute(
            text("SELECT id FROM dm_threads WHERE participant_username = :u"), {"u": user}
        ).scalar()
        assert read_messages(conn, fvault, tid)[-1]["text"] == "rotation test message"
        assert conn.execute(text("SELECT DISTINCT key_id FROM dm_messages")).scalars().all() == [kid]
        assert load_session(conn, fvault, acc) is not None
    # a fresh process reading the key file decrypts too
    with engine.connect() as conn:
        assert read_messages(conn, Vault(Keyring.from_file(tmp_path / "keys" / "keyring.json")), tid)[-1][
            "text"
        ]
    # tamper with one byte of the ciphertext: detected
    with engine.begin() as conn:
        mid, blob = conn.execute(
            text("SELECT id, content_encrypted FROM dm_messages WHERE thread_id = :t"), {"t": tid}
        ).one()
        b = bytearray(bytes(blob))
        b[-5] ^= 0x01
        conn.execute(
            text("UPDATE dm_messages SET content_encrypted = :b WHERE id = :i"), {"b": bytes(b), "i": mid}
        )
    with engine.connect() as conn, pytest.raises(DecryptionError, match="altered"):
        read_messages(conn, fvault, tid)


def test_retention(engine, tmp_path):
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    old, recent = now - timedelta(days=400), now - timedelta(days=10)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, platform, platform_user_id, username) VALUES ('acc-00000001', "
                "'x', 'me', 'me')"
            )
        )
        conn.execute(
            text(
                'INSERT INTO audit_entries (id, run_id, step_id, event_type, outcome, "timestamp") VALUES '
                "('aud-00000001', 'r', 's', 'error', 'failure', :old), ('aud-00000002', 'r', 's', 'error', "
                "'failure', :recent)"
            ),
            {"old": old, "recent": recent},
        )
        conn.execute(
            text(
                "INSERT INTO action_attempts (id, run_id, platform, action_type, account_id, target_type, "
                "target_id, status, attempted_at) VALUES ('att-00000001', 'r', 'x', 'like', 'acc-00000001', "
                "'post', 'kept-by-attempt', 'success', :recent), ('att-00000002', 'r', 'x', 'like', "
                "'acc-00000001', 'post', 'zzz', 'failed', :old)"
            ),
            {"old": old, "recent": recent},
        )
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, first_seen_at, engagement_status) "
                "VALUES ('p-00000001', 'x', 'old-plain', :p, 'not_engaged'), ('p-00000002', 'x', "
                "'old-liked', :p, 'liked'), ('p-00000003', 'x', 'kept-by-attempt', :p, 'not_engaged'), "
                "('p-00000004', 'x', 'new', :recent, 'not_engaged')"
            ),
            {"p": now - timedelta(days=100), "recent": recent},
        )
        conn.execute(
            text(
                "INSERT INTO dm_threads (id, platform, platform_thread_id, account_id, participant_username, "
                "last_message_at, last_message_preview_encrypted) VALUES ('dmt-00000001', 'x', 't', "
                "'acc-00000001', 'u', :o, 'x')"
            ),
            {"o": now - timedelta(days=40)},
        )
        conn.execute(
            text(
                "INSERT INTO dm_messages (id, platform, platform_message_id, thread_id, is_from_us, "
                "content_encrypted, key_id, sent_at) VALUES ('dmm-00000001', 'x', 'm1', 'dmt-00000001', "
                "false, 'x', 'k', :o), ('dmm-00000002', 'x', 'm2', 'dmt-00000001', false, 'y', 'k', :r)"
            ),
            {"o": now - timedelta(days=40), "r": recent},
        )
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / "old.png").write_bytes(b"x")
    (shots / "new.png").write_bytes(b"x")
    t_old = (now - timedelta(days=8)).timestamp()
    os.utime(shots / "old.png", (t_old, t_old))
    os.utime(shots / "new.png", (now.timestamp(), now.timestamp()))

    dry = run_retention(engine, now, screenshots=shots, dry_run=True)
    counts = run_retention(engine, now, screenshots=shots)
    assert counts == dry
    assert counts == {
        "audit_entries_deleted": 1,
        "action_attempts_deleted": 1,
        "posts_deleted": 1,
        "dm_messages_redacted": 1,
        "dm_previews_redacted": 1,
        "screenshots_deleted": 1,
    }
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT platform_post_id FROM posts")).scalars()) == [
            "kept-by-attempt",
            "new",
            "old-liked",
        ]
        red = conn.execute(
            text("SELECT content_encrypted, content_redacted_at FROM dm_messages WHERE id = 'dmm-00000001'")
        ).one()
        assert red[0] is None and red[1] == now
        assert (
            conn.execute(text("SELECT content_encrypted FROM dm_messages WHERE id = 'dmm-00000002'")).scalar()
            is not None
        )
        aud = conn.execute(text("SELECT details FROM audit_entries WHERE event_type = 'retention'")).scalar()
        assert aud["posts_deleted"] == 1
    assert not (shots / "old.png").exists() and (shots / "new.png").exists()
