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
from tests.engagement.conftest import OPEN_SETTINGS

PASSWORD = "correct horse battery"


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


def add_account(engine, username: str, workspace_id: str | None, platform: str = "x") -> str:
    from postpulse.engagement import repository as repo

    with engine.begin() as conn:
        acc = repo.add_account(
            conn, platform=platform, username=username, authorize=True, settings=OPEN_SETTINGS
        )
        conn.execute(
            text("UPDATE accounts SET workspace_id = :w WHERE id = :a"), {"w": workspace_id, "a": acc["id"]}
        )
    return acc["id"]


def add_post(engine, account_id: str | None, platform_post_id: str, body: str, author: str) -> str:
    with engine.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, text_content, author_username, "
                "account_id) "
                "VALUES (pp_new_id('p'), 'x', :pp, :t, :au, :a) RETURNING id"
            ),
            {"pp": platform_post_id, "t": body, "au": author, "a": account_id},
        ).scalar_one()


def queue_comment(engine, account_id: str, platform_post_id: str, body: str) -> str:
    from postpulse.engagement import repository as repo

    with engine.begin() as conn:
        return repo.add_action(
            conn, account=account_id, action_type="comment", target_id=platform_post_id, text_value=body
        ).action["id"]


def add_dm(
    engine, vault, account_id: str, participant: str, messages: list[str], thread_key: str = "t1"
) -> str:
    from datetime import UTC, datetime, timedelta

    from postpulse.engagement import dm_sync

    now = datetime.now(UTC)
    with engine.begin() as conn:
        tid = dm_sync.upsert_thread(
            conn,
            vault,
            account_id=account_id,
            platform="x",
            platform_thread_id=f"{account_id}-{thread_key}",
            participant=participant,
            last_text=messages[-1],
            last_at=now,
            now=now,
        )
        for i, body in enumerate(messages):
            dm_sync.insert_message(
                conn,
                vault,
                thread_id=tid,
                platform="x",
                platform_message_id=f"{tid}-{i}",
                is_from_us=False,
                sender=participant,
                content=body,
                sent_at=now - timedelta(minutes=len(messages) - i),
                now=now,
            )
        conn.execute(
            text("UPDATE dm_threads SET unread_count = :n WHERE id = :t"), {"n": len(messages), "t": tid}
        )
    return tid
