"""The console's protections over real HTTP, each with a test that fails without it: login
required everywhere, roles checked on the server (and refusals audited), workspaces isolated,
CSRF, escaping, login throttling, sessions ended by a password reset, no DM text outside the
page, allowed Host headers only."""

from __future__ import annotations

import base64
import json
import logging
import re

import httpx
import pytest
from sqlalchemy import text
from starlette.routing import Route

from postpulse.console import users
from postpulse.console.app import ConsoleSettings, create_app
from tests.console.conftest import (
    PASSWORD,
    add_account,
    add_dm,
    add_post,
    add_user,
    add_workspace,
    csrf_of,
    login,
    post,
    queue_comment,
)


def _routes(engine) -> list[tuple[str, str]]:
    app = create_app(engine, ConsoleSettings(secret_key="x" * 40))
    out = []
    for r in app.routes:
        if isinstance(r, Route) and r.path not in ("/healthz", "/login"):
            path = re.sub(r"\{[^}]+\}", "x-00000000", r.path)
            out += [(m, path) for m in sorted(r.methods or ()) if m in ("GET", "POST")]
    return out


def test_every_route_without_a_session_goes_to_login(engine, console):
    routes = _routes(engine)
    assert len(routes) >= 20
    with httpx.Client(base_url=console.url, follow_redirects=False) as anon:
        for method, path in routes:
            r = anon.request(method, path, data={"csrf": "x"} if method == "POST" else None)
            assert r.status_code == 303 and r.headers["location"] == "/login", (method, path, r.status_code)


def test_every_post_without_the_csrf_token_is_refused(engine, console):
    add_user(engine, "root", "admin")
    client = login(console.url, "root")
    posts = [p for m, p in _routes(engine) if m == "POST"]
    assert "/approvals/decide" in posts and "/logout" in posts
    for path in posts:
        assert client.post(path, data={}).status_code == 403, path
        assert client.post(path, data={"csrf": "forged"}).status_code == 403, path
    # the login form has its token too
    with httpx.Client(base_url=console.url) as anon:
        r = anon.post("/login", data={"username": "root", "password": PASSWORD})
        assert r.status_code == 403


def test_a_viewer_cannot_approve_and_the_refusal_is_audited(engine, console):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    add_post(engine, acc, "900", "a post", "someone")
    aid = queue_comment(engine, acc, "900", "nice!")
    add_user(engine, "vera", "viewer", "acme")
    client = login(console.url, "vera")
    page = client.get("/approvals")
    assert page.status_code == 200 and aid in page.text and "Approve" not in page.text
    r = post(client, "/approvals/decide", {"approve_one": aid})
    assert r.status_code == 403
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT status FROM action_queue WHERE id = :i"), {"i": aid}).scalar()
            == "queued"
        )
        entry = conn.execute(
            text("SELECT details FROM audit_entries WHERE step_id = 'denied' AND action_id = :i"), {"i": aid}
        ).scalar_one()
    assert entry["by"] == "vera" and entry["denied"] == "approve"


def test_an_approver_approves_with_audit(engine, console):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    ids = [queue_comment(engine, acc, str(900 + i), f"comment {i}") for i in range(3)]
    add_user(engine, "appr", "approver", "acme")
    client = login(console.url, "appr")
    assert post(client, "/approvals/decide", {"approve_one": ids[0]}).status_code == 303
    assert post(client, "/approvals/decide", {"ids": ids[1:], "decision": "reject"}).status_code == 303
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, status FROM action_queue")).all())
        audit_by = conn.execute(
            text("SELECT action_id, details->>'by' FROM audit_entries WHERE event_type = 'approval'")
        ).all()
    assert rows == {ids[0]: "approved", ids[1]: "rejected", ids[2]: "rejected"}
    assert sorted(a for a, _ in audit_by) == sorted(ids) and {b for _, b in audit_by} == {"console:appr"}


def test_a_client_sees_no_other_workspace(engine, console, vault):
    mine, other = add_workspace(engine, "mine"), add_workspace(engine, "other")
    acc_other = add_account(engine, "other_x", other)
    thread = add_dm(engine, vault, acc_other, "pat", ["hello"])
    aid = queue_comment(engine, acc_other, "901", "hi")
    add_user(engine, "cli", "client", "mine")
    add_user(engine, "vic", "viewer", "mine")
    client = login(console.url, "cli")
    listing = client.get("/reports")
    assert listing.status_code == 200 and f"/reports/{mine}" in listing.text and other not in listing.text
    for path in (f"/reports/{other}", f"/reports/{other}/view", f"/reports/{other}/download"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/reports/{mine}").status_code == 200
    for path in ("/approvals", "/inbox", "/accounts", "/team", f"/inbox/threads/{thread}"):
        assert client.get(path).status_code == 403, path
    # a viewer of another workspace: objects of "other" are not found
    viewer = login(console.url, "vic")
    assert viewer.get(f"/inbox/threads/{thread}").status_code == 404
    assert viewer.get(f"/approvals/{aid}").status_code == 404
    assert viewer.get(f"/accounts/{acc_other}").status_code == 404
    assert aid not in viewer.get("/approvals").text


XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "<svg/onload=alert(3)>",
    "javascript:alert(4)//<a href='x'>",
]


def test_stored_html_is_escaped(engine, console, vault):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    for i, payload in enumerate(XSS):
        add_post(engine, acc, f"9{i}", f"post {payload}", f"author{payload}")
        queue_comment(engine, acc, f"9{i}", f"reply {payload}")
        add_dm(engine, vault, acc, f"u{i}{payload}", [f"dm {payload}"], thread_key=str(i))
    add_user(engine, "root", "admin")
    client = login(console.url, "root")
    pages = [client.get(p).text for p in ("/approvals", "/inbox", "/accounts")]
    with engine.connect() as conn:
        threads = conn.execute(text("SELECT id FROM dm_threads")).scalars().all()
    pages += [client.get(f"/inbox/threads/{t}").text for t in threads]
    joined = "\n".join(pages)
    for payload in XSS:
        assert payload not in joined
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in joined
    assert "dm &lt;svg/onload=alert(3)&gt;" in joined  # the DM text is on the page, escaped


def test_login_brute_force_is_refused_and_slowed(engine, console):
    add_user(engine, "ana", "admin")
    with httpx.Client(base_url=console.url) as anon:
        for _ in range(users.MAX_FAILURES):
            token = csrf_of(anon.get("/login").text)
            r = anon.post("/login", data={"username": "ana", "password": "guess", "csrf": token})
            assert r.status_code == 401
            assert r.elapsed.total_seconds() >= 0.4  # each failure is slowed
        token = csrf_of(anon.get("/login").text)
        r = anon.post("/login", data={"username": "ana", "password": PASSWORD, "csrf": token})
        assert r.status_code == 429 and "Too many failed logins" in r.text
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM console_login_attempts WHERE NOT succeeded")).scalar()
            == 5
        )


def test_a_cookie_from_before_a_password_reset_is_rejected(engine, console):
    add_user(engine, "ana", "approver")
    client = login(console.url, "ana")
    assert client.get("/approvals").status_code == 200
    old_cookie = client.cookies.get("postpulse_console")
    with engine.begin() as conn:
        users.reset_password(conn, "ana", "another good password")
    with httpx.Client(base_url=console.url, cookies={"postpulse_console": old_cookie}) as stale:
        r = stale.get("/approvals", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    # a disabled user's session ends too
    fresh = login(console.url, "ana", "another good password")
    with engine.begin() as conn:
        users.disable_user(conn, "ana")
    assert fresh.get("/approvals").status_code == 303


def test_session_cookie_flags(engine, console):
    add_user(engine, "ana", "admin")
    with httpx.Client(base_url=console.url) as anon:
        token = csrf_of(anon.get("/login").text)
        r = anon.post("/login", data={"username": "ana", "password": PASSWORD, "csrf": token})
        cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_no_dm_text_in_logs_cookies_urls_or_audit(engine, console, vault, caplog):
    secret_text = "my home address is 12 Secret Lane"
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    thread = add_dm(engine, vault, acc, "pat", [secret_text])
    add_user(engine, "root", "admin")
    caplog.set_level(logging.DEBUG)
    client = login(console.url, "root")
    client.follow_redirects = True
    page = client.get(f"/inbox/threads/{thread}")
    assert secret_text in page.text  # shown to a role that may read DMs
    reply = "call me at 555 0100 tomorrow"
    r = client.post(f"/inbox/threads/{thread}/reply", data={"text": reply, "csrf": csrf_of(page.text)})
    assert r.status_code == 200
    urls = [str(h.url) for h in r.history] + [str(r.url)]
    cookies = []
    for c in client.cookies.jar:
        raw = c.value.split(".")[0]
        cookies.append(base64.b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8", "replace"))
    with engine.connect() as conn:
        audit_text = json.dumps(
            [dict(r) for r in conn.execute(text("SELECT * FROM audit_entries")).mappings()], default=str
        )
        params = conn.execute(
            text("SELECT action_params::text FROM action_queue WHERE target_id = :t"), {"t": thread}
        ).scalar_one()
    for secret in (secret_text, reply):
        for where, blob in (("log", caplog.text), ("url", " ".join(urls)), ("cookie", " ".join(cookies))):
            assert secret not in blob, where
        assert secret not in audit_text and secret not in params
    assert "text_encrypted" in params  # the queued reply is encrypted at rest


def test_a_viewer_sees_threads_but_not_dm_text(engine, console, vault):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    thread = add_dm(engine, vault, acc, "pat", ["private words here"])
    add_user(engine, "vic", "viewer", "acme")
    client = login(console.url, "vic")
    page = client.get(f"/inbox/threads/{thread}")
    assert page.status_code == 200 and "@pat" in page.text and "private words here" not in page.text
    assert post(client, f"/inbox/threads/{thread}/reply", {"text": "hi"}, page="/inbox").status_code == 403


def test_only_allowed_hosts(console):
    with httpx.Client(base_url=console.url) as anon:
        assert anon.get("/login").status_code == 200
        assert anon.get("/login", headers={"host": "evil.example"}).status_code == 400


@pytest.mark.parametrize("role", ["viewer", "client"])
def test_only_a_global_admin_manages_users(engine, console, role):
    ws = add_workspace(engine, "acme")
    assert ws
    add_user(engine, "someone", role, "acme")
    client = login(console.url, "someone")
    assert client.get("/team").status_code == 403
    r = post(client, "/team", {"username": "mallory", "role": "admin"}, page="/reports")
    assert r.status_code == 403
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM console_users WHERE username = 'mallory'")).scalar() == 0
        )
