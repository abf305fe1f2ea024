"""Every fault, switched on and off, from Python and over HTTP; the admin endpoints."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from postpulse.sandbox.faults import FaultError

from .conftest import csrf_of, login


def test_rate_limit_with_count_and_prefix(server, client):
    server.faults.set("rate_limit", count=2, retry_after=17, path_prefix="/api/")
    for _ in range(2):
        r = client.get("/api/x/posts")
        assert r.status_code == 429 and r.headers["Retry-After"] == "17"
        assert r.json()["error"]["type"] == "rate-limit-exceeded"
    assert client.get("/api/x/posts").status_code == 200, "count used up -> off again"
    r = client.post("/_admin/faults", json={"kind": "rate_limit", "params": {"retry_after": 5}})
    assert r.json()["faults"]["rate_limit"]["retry_after"] == 5
    page = client.get("/x/login")
    assert page.status_code == 429 and page.headers["Retry-After"] == "5" and "Too many requests" in page.text
    assert client.get("/_admin/state").status_code == 200, "admin is never faulted"
    assert client.delete("/_admin/faults/rate_limit").json()["faults"] == {}
    assert client.get("/x/login").status_code == 200


def test_server_error_burst(server, client):
    client.post("/_admin/faults", json={"kind": "server_error", "count": 3, "status": 503})
    codes = [client.get("/api/instagram/posts").status_code for _ in range(4)]
    assert codes == [503, 503, 503, 200]
    server.faults.set("server_error")  # default burst of 3 x 500
    assert client.get("/v2/actor-runs/x", params={"token": "sandbox-token"}).status_code == 500
    server.faults.clear()
    assert client.get("/api/instagram/posts").status_code == 200


def test_slow(server, client):
    server.faults.set("slow", delay=0.4, count=1)
    t = time.monotonic()
    assert client.get("/api/x/posts").status_code == 200
    assert time.monotonic() - t >= 0.4
    t = time.monotonic()
    client.get("/api/x/posts")
    assert time.monotonic() - t < 0.4


def test_changed_markup_on_and_off(server, client):
    login(client, "x")
    post = client.get("/api/x/posts", params={"profile": "demo2_x", "limit": 1}).json()[0]
    path = post["url"].replace(server.base_url, "")
    normal = client.get(path).text
    assert 'data-testid="like-button"' in normal and 'aria-label="Like"' in normal and "<article" in normal
    server.faults.set("changed_markup")
    changed = client.get(path).text
    assert "data-testid" not in changed and 'aria-label="Like"' not in changed and "<article" not in changed
    assert 'name="csrf_token"' in changed, "forms still work"
    client.post("/x/action/like", data={"csrf_token": csrf_of(changed), "post_id": post["id"]})
    server.faults.clear("changed_markup")
    again = client.get(path).text
    assert 'data-testid="like-button"' in again and 'aria-pressed="true"' in again


def test_expired_sessions(server, client):
    login(client, "instagram")
    assert client.get("/instagram/messages/").status_code == 200
    server.faults.set("expired_sessions")
    r = client.get("/instagram/messages/")
    assert r.status_code == 303 and r.headers["location"].startswith("/instagram/login?")
    assert "expired=1" in r.headers["location"]
    assert "Your session has expired" in client.get(r.headers["location"]).text
    login(client, "instagram")  # a new login works while the fault is on
    assert client.get("/instagram/messages/").status_code == 200
    server.faults.clear()
    assert client.get("/instagram/messages/").status_code == 200


def test_session_ttl_expiry_via_clock(server, client):
    login(client, "x")
    server.clock.advance(timedelta(days=6))
    assert client.get("/x/").status_code == 200
    client.post("/_admin/clock", json={"advance_seconds": 2 * 86400})
    r = client.get("/x/")
    assert r.status_code == 303 and "expired=1" in r.headers["location"]


def test_action_blocked(server, client):
    csrf = login(client, "x")
    post = client.get("/api/x/posts", params={"profile": "demo2_x", "limit": 1}).json()[0]
    path = post["url"].replace(server.base_url, "")
    server.faults.set("action_blocked", actions=["like"])
    r = client.post(
        "/x/action/like",
        data={"csrf_token": csrf, "post_id": post["id"], "next": path},
        follow_redirects=True,
    )
    assert 'data-testid="action-blocked"' in r.text and "Action blocked" in r.text
    assert 'aria-pressed="false"' in r.text
    assert client.get("/_admin/state").json()["accounts"]["x:demo_x"]["likes"] == []
    client.post("/x/action/follow", data={"csrf_token": csrf, "target": "demo2_x"})
    assert client.get("/_admin/state").json()["accounts"]["x:demo_x"]["following"].count("demo2_x") == 1
    server.faults.clear("action_blocked")
    r = client.post(
        "/x/action/like",
        data={"csrf_token": csrf, "post_id": post["id"], "next": path},
        follow_redirects=True,
    )
    assert "Action blocked" not in r.text and 'aria-pressed="true"' in r.text


def test_actor_failed(server, client):
    server.faults.set("actor_failed", count=1)
    tok = {"token": "sandbox-token"}
    run = client.post("/v2/acts/apidojo~tweet-scraper/runs", params=tok, json={}).json()["data"]
    for _ in range(2):
        status = client.get(f"/v2/actor-runs/{run['id']}", params=tok).json()["data"]["status"]
    assert status == "FAILED"
    run = client.post(
        "/v2/acts/apidojo~tweet-scraper/runs", params={**tok, "waitForFinish": 1}, json={}
    ).json()
    assert run["data"]["status"] == "SUCCEEDED"


def test_admin_clock_dm_and_state(server, client):
    r = client.post("/_admin/clock", json={"now": "2025-06-03T00:00:00Z"})
    assert r.json()["now"].startswith("2025-06-03T00:00:00")
    assert server.clock.now().isoformat().startswith("2025-06-03T00:00:00")
    r = client.post(
        "/_admin/dm", json={"platform": "x", "from": "demo2_x", "to": "demo_x", "text": "STOP please"}
    )
    assert r.status_code == 201
    state = client.get("/_admin/state").json()
    received = state["accounts"]["x:demo_x"]["dms_received"]
    assert [m["text"] for m in received] == ["STOP please"] and received[0]["from"] == "demo2_x"
    login(client, "x")
    thread = client.get(f"/x/messages/{r.json()['thread_id']}")
    assert "STOP please" in thread.text


def test_fault_validation_from_python(server):
    with pytest.raises(FaultError, match="unknown fault"):
        server.faults.set("meteor")
    with pytest.raises(FaultError, match="no parameter"):
        server.faults.set("slow", speed=3)
    with pytest.raises(FaultError):
        server.faults.set("server_error", status=418)
    with pytest.raises(FaultError):
        server.faults.set("action_blocked", actions=["explode"])
    assert server.faults.active() == {}
