"""``postpulse users`` and the console as the child process ``postpulse up`` starts."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import httpx
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.cli import app
from postpulse.console.app import load_secret_key, secret_key_file
from postpulse.launcher import Launcher

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, list(args))


def test_users_add_list_disable_reset(store_env, engine):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO workspaces (id, name) VALUES ('wsp-1', 'acme')"))
    r = cli("users", "add", "ana", "--role", "approver", "--workspace", "acme")
    assert r.exit_code == 0, r.output
    first = re.search(r"one-time password: (\S+)", r.output).group(1)
    r = cli("users", "list")
    assert "ana" in r.output and "approver @acme" in r.output and first not in r.output
    assert cli("users", "add", "ana", "--role", "viewer").exit_code != 0  # exists already
    bad = cli("users", "add", "bob", "--role", "owner")
    assert bad.exit_code == 1 and "unknown role 'owner'" in bad.output and "Traceback" not in bad.output
    assert cli("users", "add", "cli1", "--role", "client").exit_code == 1  # a client needs a workspace
    with engine.connect() as conn:
        epoch = conn.execute(text("SELECT session_epoch FROM console_users WHERE username = 'ana'")).scalar()
    r = cli("users", "disable", "ana")
    assert r.exit_code == 0 and "disabled" in r.output
    r = cli("users", "reset-password", "ana")
    assert r.exit_code == 0 and first not in r.output
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT is_active, session_epoch, must_change_password, password_hash FROM console_users")
        ).one()
    assert row.is_active and row.session_epoch == epoch + 2 and row.must_change_password
    assert row.password_hash.startswith("$argon2id$")
    assert cli("users", "disable", "nobody").exit_code == 1


def test_first_admin_once(store_env, engine):
    said = []
    launcher = Launcher(say=said.append)
    launcher._first_console_admin(engine)  # noqa: SLF001 - the step `up` runs after migrating
    launcher._first_console_admin(engine)  # noqa: SLF001
    assert len(said) == 1 and re.search(r"first user 'admin', one-time password \S{20}", said[0])


def test_secret_key_file_is_private(tmp_path):
    key = load_secret_key(tmp_path)
    path = secret_key_file(tmp_path)
    assert oct(path.stat().st_mode & 0o777) == "0o600" and len(key) >= 40
    assert load_secret_key(tmp_path) == key


def test_the_console_child_process(store_env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "postpulse.console", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the console did not start"
            time.sleep(0.3)
        r = httpx.get(f"http://127.0.0.1:{port}/approvals")
        assert r.status_code == 303 and r.headers["location"] == "/login"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Traceback" not in out
