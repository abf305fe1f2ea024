"""Bluesky against a real local AT Protocol stack (PDS, PLC, AppView on 127.0.0.1).

One file on purpose: the session-scoped stack starts once per worker (``--dist loadfile``).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.bluesky import session as bsky_session
from postpulse.bluesky.accounts import connect_account
from postpulse.bluesky.appview import AppView
from postpulse.bluesky.checkbacks import run_bluesky_checkbacks
from postpulse.bluesky.collect import collect
from postpulse.bluesky.errors import HandleNotFound, RateLimited, ServiceDown, WrongPassword
from postpulse.bluesky.install import runtime_paths
from postpulse.bluesky.stack import STACK_FILES
from postpulse.cli import app
from tests.bluesky.conftest import wait_until

runner = CliRunner()


def _liked(appview_url: str, uri: str, count: int) -> bool:
    with AppView(appview_url) as av:
        posts = av.get_posts([uri])
    return bool(posts) and posts[0].get("likeCount") == count


# ----------------------------------------------------------------------------- the stack


def test_stack_listens_on_loopback_only_and_refuses_outside_names(bluesky_stack):
    urls = bluesky_stack.urls
    for url in (urls.pds, urls.appview, urls.plc):
        assert url.startswith("http://127.0.0.1:")
    listening = [
        c.laddr
        for c in psutil.Process(bluesky_stack.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert len(listening) >= 5  # PLC, PDS, AppView, its data plane, bsync
    assert all(addr.ip == "127.0.0.1" for addr in listening), listening
    # the guard the servers run with: an outside name does not even resolve
    rt = runtime_paths()
    probe = subprocess.run(
        [
            str(rt.node),
            "--require",
            str(STACK_FILES / "guard.cjs"),
            "-e",
            "require('dns').lookup('plc.directory', (e) => { console.log(e && e.code, e && e.message) })",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "ENOTFOUND" in probe.stdout and "postpulse stack guard" in probe.stdout


def test_stack_data_survives_a_restart(bluesky_stack, new_account):
    """Stop the servers, start them again on the same data: the account and its post are still
    there (the AppView's DID and the keys are reused, the ports are the same)."""
    carol = new_account("carol")
    carol.client.send_post("before the restart")
    before = bluesky_stack.urls
    bluesky_stack.restart()
    assert bluesky_stack.urls == before and bluesky_stack.alive()
    client = bsky_session.login(bluesky_stack.urls.pds, carol.handle, carol.password)
    with AppView(bluesky_stack.urls.appview) as av:
        feed = list(av.author_feed(client.me.did))
    assert [p["record"]["text"] for p in feed] == ["before the restart"]
    client.send_post("after the restart")  # the PDS writes and the AppView indexes again
    assert wait_until(lambda: len(list(AppView(bluesky_stack.urls.appview).author_feed(carol.did))) == 2)


# ----------------------------------------------------------------------------- connect


def test_connect_stores_the_session_encrypted_and_faults_store_nothing(
    bluesky_stack, new_account, engine, vault
):
    pds = bluesky_stack.urls.pds
    alice = new_account("alice")
    with pytest.raises(WrongPassword, match="refused the app password"):
        connect_account(engine, vault, alice.handle, "not-the-password", service=pds)
    with pytest.raises(HandleNotFound, match="does not resolve"):
        connect_account(engine, vault, "nobody-here.test", alice.password, service=pds)
    with pytest.raises(ServiceDown, match="does not answer"):
        connect_account(engine, vault, alice.handle, alice.password, service="http://127.0.0.1:9")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM accounts")).scalar() == 0
        failures = conn.execute(
            text("SELECT details FROM audit_entries WHERE event_type = 'login' AND outcome = 'failure'")
        ).scalars().all()
    assert {f["error_code"] for f in failures} == {"wrong_password", "handle_not_found", "service_down"}
    assert not any(alice.password in json.dumps(f) for f in failures)

    acc = connect_account(engine, vault, alice.handle, alice.password, service=pds, authorize=True)
    assert acc["platform"] == "bluesky" and acc["username"] == alice.handle and acc["has_session"]
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT platform_user_id, session_encrypted, metadata FROM accounts WHERE id = :i"),
            {"i": acc["id"]},
        ).one()
    assert row.platform_user_id == alice.did and row.metadata["service"] == pds
    stored = bytes(row.session_encrypted)
    assert alice.password.encode() not in stored and b"eyJ" not in stored  # no JWT in the clear


def test_cli_connect_reads_the_password_from_stdin(bluesky_stack, new_account, store_env):
    bob = new_account("bob")
    r = runner.invoke(
        app,
        ["accounts", "connect", "bluesky", "--handle", bob.handle, "--service", bluesky_stack.urls.pds],
        input=bob.password + "\n",
    )
    assert r.exit_code == 0, r.output
    assert "connected" in r.output and bob.password not in r.output
    r = runner.invoke(
        app,
        ["accounts", "connect", "bluesky", "--handle", bob.handle, "--service", bluesky_stack.urls.pds],
        input="wrong-password\n",
    )
    assert r.exit_code == 1 and "refused the app password" in r.output and "Traceback" not in r.output
