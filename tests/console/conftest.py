"""Console fixtures: the console on a real HTTP server on 127.0.0.1 over the test's database,
users of each role, and an httpx client that logs in through the login form."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text

from postpulse.console import users
from postpulse.console.app import ConsoleSettings
from postpulse.console.server import BackgroundServer
from postpulse.crypto import Keyring, Vault

PASSWORD = "correct horse battery"


@pytest.fixture
def vault() -> Vault:
    return Vault(Keyring.generate("test1"))


@pytest.fixture
def console(engine, vault):
    settings = ConsoleSettings(secret_key="test-" + "k" * 40, vault_loader=lambda: vault)
    with BackgroundServer(engine, settings) as server:
        yield server


def add_workspace(engine, name: str) -> str:
    with engine.begin() as conn:
        return conn.execute(
            text("INSERT INTO workspaces (id, name) VALUES (pp_new_id('wsp'), :n) RETURNING id"), {"n": name}
        ).scalar_one()


def add_user(engine, username: str, role: str, workspace: str | None = None) -> str:
    with engine.begin() as conn:
        uid, _ = users.add_user(conn, username, role, workspace=workspace, password=PASSWORD)
    return uid


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def login(base_url: str, username: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(page.text)})
    assert r.status_code == 303, (r.status_code, r.text[:300])
    return client


def post(client: httpx.Client, path: str, data: dict | None = None, page: str = "/approvals"):
    """POST with the CSRF token of the session (taken from a page the user may open)."""
    token = csrf_of(client.get(page).text)
    return client.post(path, data={**(data or {}), "csrf": token})
