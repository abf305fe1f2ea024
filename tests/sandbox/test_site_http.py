"""The site over plain HTTP: login, logout, CSRF, session isolation, malformed requests."""

from __future__ import annotations

import httpx
import pytest

from postpulse.sandbox.app import cookie_name

from .conftest import csrf_of, login


def test_login_rule_cookie_and_logout(server, client):
    r = client.post("/linkedin/login", data={"username": "demo_linkedin", "password": "wrong"})
    assert r.status_code == 401 and "Wrong username or password" in r.text
    r = client.post("/linkedin/login", data={"username": "nobody", "password": "sandbox-nobody"})
    assert r.status_code == 401
    r = client.post(
        "/linkedin/login",
        data={
            "username": "demo_linkedin",
            "password": "sandbox-demo_linkedin",
            "next": "https://evil.example/",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/linkedin/", "open redirects are refused"
    cookie = r.headers["set-cookie"]
    assert (
        cookie.startswith(cookie_name("linkedin") + "=")
        and "HttpOnly" in cookie
        and "samesite=lax" in cookie.lower()
    )
    # any profile can log in with the same rule
    other = next(u for u, p in server.world.profiles["linkedin"].items() if not p.is_ours)
    with httpx.Client(base_url=server.base_url) as c2:
        assert (
            c2.post("/linkedin/login", data={"username": other, "password": f"sandbox-{other}"}).status_code
            == 303
        )
    page = client.get("/linkedin/")
    assert 'data-testid="current-user" data-username="demo_linkedin"' in page.text
    assert client.post("/linkedin/logout", data={"csrf_token": "nope"}).status_code == 403
    r = client.post("/linkedin/logout", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert client.get("/linkedin/").status_code == 303


def test_sessions_are_per_platform_and_random(server, client):
    login(client, "x")
    assert client.get("/instagram/").status_code == 303, "an X session is not an Instagram session"
    tokens = set()
    for _ in range(3):
        with httpx.Client(base_url=server.base_url) as c:
            c.post("/x/login", data={"username": "demo_x", "password": "sandbox-demo_x"})
            tokens.add(c.cookies[cookie_name("x")])
    assert len(tokens) == 3 and all(len(t) >= 32 for t in tokens)


def test_session_can_never_act_as_another_account(server, client):
    csrf1 = login(client, "x", "demo_x")
    with httpx.Client(base_url=server.base_url) as other:
        csrf2 = login(other, "x", "demo2_x")
        post = client.get("/api/x/posts", params={"profile": "demo2_x", "limit": 1}).json()[0]
        # forged fields naming another account are ignored: the session's account acts
        client.post(
            "/x/action/like",
            data={
                "csrf_token": csrf1,
                "post_id": post["id"],
                "username": "demo2_x",
                "account": "demo2_x",
                "as": "demo2_x",
            },
        )
        # the other session's CSRF token does not work with this session's cookie
        r = client.post("/x/action/follow", data={"csrf_token": csrf2, "target": "demo2_x"})
        assert r.status_code == 403 and "form token" in r.text
        # one account cannot delete another's comment
        other.post("/x/action/comment", data={"csrf_token": csrf2, "post_id": post["id"], "text": "mine"})
        state = client.get("/_admin/state").json()["accounts"]
        cid = state["x:demo2_x"]["comments"][0]["comment_id"]
        r = client.post("/x/action/delete_comment", data={"csrf_token": csrf1, "comment_id": cid})
        assert r.status_code == 403 and "only delete your own" in r.text
        # a thread that is not ours is invisible
        foreign = next(t for t in server.world.threads["x"].values() if "demo_x" not in t.participants)
        assert client.get(f"/x/messages/{foreign.thread_id}").status_code == 404
        assert (
            client.post(
                f"/x/messages/{foreign.thread_id}", data={"csrf_token": csrf1, "text": "hi"}
            ).status_code
            == 404
        )
        page2 = other.get(post["url"].replace(server.base_url, "")).text
    state = client.get("/_admin/state").json()["accounts"]
    assert state["x:demo_x"]["likes"] == [post["id"]] and state["x:demo2_x"]["likes"] == []
    assert state["x:demo_x"]["following"].count("demo2_x") == 0
    assert [c["deleted"] for c in state["x:demo2_x"]["comments"]] == [False]
    assert 'aria-pressed="false"' in page2, "demo2 does not see demo's like as its own"


def test_actions_need_a_session_and_a_csrf_token(server, client):
    post = client.get("/api/x/posts", params={"limit": 1}).json()[0]
    r = client.post("/x/action/like", data={"post_id": post["id"]})
    assert r.status_code == 303 and r.headers["location"].startswith("/x/login")
    login(client, "x")
    r = client.post("/x/action/like", data={"post_id": post["id"]})
    assert r.status_code == 403
    assert client.get("/_admin/state").json()["accounts"]["x:demo_x"]["likes"] == []


@pytest.mark.parametrize(
    "method,path,kwargs,status",
    [
        ("POST", "/x/action/like", {"data": {"post_id": "nope"}}, 404),
        ("POST", "/x/action/explode", {"data": {}}, 404),
        ("POST", "/x/action/comment", {"data": {"text": ""}}, 400),
        ("POST", "/x/action/reply", {"data": {"text": "x"}}, 400),
        ("POST", "/x/action/follow", {"data": {}}, 400),
        ("POST", "/x/action/follow", {"data": {"target": "demo_x"}}, 400),
        ("POST", "/x/action/follow", {"data": {"target": "ghost"}}, 404),
        (
            "POST",
            "/x/action/like",
            {
                "content": b"\xff\xfe\x00garbage",
                "headers": {"content-type": "multipart/form-data; boundary=zz"},
            },
            400,
        ),
        ("POST", "/x/action/like", {"json": {"post_id": "1"}}, 415),
        ("POST", "/x/action/like", {"files": {"f": ("a.txt", b"hi")}}, 400),
        ("POST", "/x/compose", {"data": {"text": "   "}}, 400),
        ("POST", "/x/compose", {"data": {"text": "ok", "media": "hologram"}}, 400),
        ("POST", "/x/messages/new", {"data": {"to": "", "text": "hi"}}, 400),
        ("POST", "/x/messages/new", {"data": {"to": "ghost", "text": "hi"}}, 404),
        ("POST", "/x/messages/new", {"data": {"to": "demo_x", "text": "me"}}, 400),
        ("GET", "/x/nobody/status/123", {}, 404),
        ("GET", "/x/ghost-user", {}, 404),
        ("GET", "/x/?page=abc", {}, 400),
        ("GET", "/myspace/", {}, 404),
        ("GET", "/instagram/p/a/b/c/d", {}, 404),
        ("PUT", "/x/login", {}, 405),
        ("GET", "/media/x/" + "a" * 300 + ".svg", {}, 404),
    ],
)
def test_malformed_site_requests_get_clear_4xx(shared_server, method, path, kwargs, status):
    with httpx.Client(base_url=shared_server.base_url) as c:
        csrf = login(c, "x")
        if "data" in kwargs:
            kwargs = {**kwargs, "data": {**kwargs["data"], "csrf_token": csrf}}
        r = c.request(method, path, **kwargs)
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert 'data-testid="error-message"' in r.text or "error" in r.text


def test_pages_escape_user_text(server, client):
    csrf = login(client, "x")
    r = client.post("/x/compose", data={"csrf_token": csrf, "text": "<script>alert(1)</script> #safe"})
    page = client.get(r.headers["location"]).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
