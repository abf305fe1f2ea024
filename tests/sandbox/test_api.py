"""JSON endpoints and the Apify-style API, over real HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from postpulse.sandbox.server import SandboxServer

from .conftest import small_world

TOKEN = {"token": "sandbox-token"}


def test_posts_by_profile_limit_and_single_post(server, client):
    all_x = client.get("/api/x/posts").json()
    assert len(all_x) == 6 * 3  # 4 profiles + 2 of ours, 3 posts each
    mine = client.get("/api/x/posts", params={"profile": "demo_x", "limit": 2}).json()
    assert len(mine) == 2 and {m["author"]["userName"] for m in mine} == {"demo_x"}
    one = client.get(f"/api/x/posts/{mine[0]['id']}").json()
    assert one["id"] == mine[0]["id"] and one["likeCount"] == mine[0]["likeCount"]
    li = client.get("/api/linkedin/posts", params={"limit": 1}).json()[0]
    for ident in (li["full_urn"], li["urn"]["activity_urn"], f"urn:li:activity:{li['urn']['activity_urn']}"):
        assert client.get(f"/api/linkedin/posts/{ident}").json()["full_urn"] == li["full_urn"]
    ig = client.get("/api/instagram/posts", params={"limit": 1}).json()[0]
    assert client.get(f"/api/instagram/posts/{ig['shortCode']}").json()["id"] == ig["id"]
    assert (
        client.get(
            "/api/tiktok/comments", params={"post": client.get("/api/tiktok/posts").json()[0]["id"]}
        ).status_code
        == 200
    )
    prof = client.get("/api/x/profiles/demo_x").json()
    assert prof["is_ours"] is True and prof["username"] == "demo_x"


def test_counts_grow_with_the_clock_and_deleted_posts_404(server, client):
    from datetime import timedelta

    post = client.get("/api/tiktok/posts", params={"limit": 1}).json()[0]
    server.clock.advance(timedelta(hours=6))
    later = client.get(f"/api/tiktok/posts/{post['id']}").json()
    assert later["playCount"] > post["playCount"]
    for key in ("diggCount", "shareCount", "commentCount", "collectCount"):
        assert later[key] >= post[key]
    r = client.post(f"/_admin/posts/tiktok/{post['id']}/delete")
    assert r.status_code == 200 and r.json()["deleted"] is True
    gone = client.get(f"/api/tiktok/posts/{post['id']}")
    assert gone.status_code == 404 and "deleted" in gone.json()["error"]["message"]
    assert post["id"] not in {p["id"] for p in client.get("/api/tiktok/posts").json()}
    unknown = client.get("/api/tiktok/posts/123")
    assert unknown.status_code == 404 and "does not exist" in unknown.json()["error"]["message"]
    assert client.post(f"/_admin/posts/tiktok/{post['id']}/restore").json()["deleted"] is False
    r = client.post(f"/_admin/posts/tiktok/{post['id']}/metrics", json={"likes": -3})
    assert r.json()["metrics"]["likes"] == max(0, later["diggCount"] - 3)


def test_same_seed_gives_identical_json_across_servers():
    bodies = []
    for _ in range(2):
        with SandboxServer(small_world(), time_scale=0.0) as srv:
            with httpx.Client(base_url=srv.base_url) as c:
                raw = {
                    p: c.get(f"/api/{p}/posts").json()
                    for p in ("linkedin", "instagram", "tiktok", "x", "threads")
                }
            bodies.append(json.dumps(raw, sort_keys=True).replace(srv.base_url, "BASE"))
    assert bodies[0] == bodies[1]


def test_apify_run_lifecycle_and_pagination(server, client):
    r = client.post(
        "/v2/acts/apify~instagram-scraper/runs",
        params=TOKEN,
        json={
            "directUrls": [f"{server.base_url}/instagram/demo_instagram/"],
            "resultsLimit": 2,
            "usernames": ["demo2_instagram"],
        },
    )
    assert r.status_code == 201, r.text
    run = r.json()["data"]
    assert run["status"] == "RUNNING" and run["defaultDatasetId"] and run["startedAt"].endswith("Z")
    early = client.get(f"/v2/datasets/{run['defaultDatasetId']}/items", params=TOKEN)
    assert early.json() == [] and early.headers["X-Apify-Pagination-Total"] == "0"
    statuses = [
        client.get(f"/v2/actor-runs/{run['id']}", params=TOKEN).json()["data"]["status"] for _ in range(3)
    ]
    assert statuses == ["RUNNING", "SUCCEEDED", "SUCCEEDED"]
    url = f"/v2/datasets/{run['defaultDatasetId']}/items"
    full = client.get(url, params={**TOKEN, "format": "json", "clean": "true"}).json()
    assert len(full) == 4 and {i["ownerUsername"] for i in full} == {"demo_instagram", "demo2_instagram"}
    page = client.get(url, params={**TOKEN, "offset": 1, "limit": 2})
    assert page.headers["X-Apify-Pagination-Total"] == "4"
    assert page.headers["X-Apify-Pagination-Offset"] == "1"
    assert page.headers["X-Apify-Pagination-Limit"] == "2"
    assert page.json() == full[1:3]
    assert client.get(url, params={**TOKEN, "offset": 10}).json() == []
    lines = client.get(url, params={**TOKEN, "format": "jsonl"}).text.splitlines()
    assert [json.loads(x) for x in lines] == full
    info = client.get(f"/v2/datasets/{run['defaultDatasetId']}", params=TOKEN).json()["data"]
    assert info["itemCount"] == 4


def test_apify_actors_per_platform_bearer_sync_and_flatten(server, client):
    auth = {"Authorization": "Bearer sandbox-token"}
    cases = {
        "apimaestro~linkedin-profile-posts": ({"username": "demo_linkedin"}, "full_urn"),
        "clockworks~tiktok-scraper": ({"profiles": ["demo_tiktok"], "resultsPerPage": 1}, "webVideoUrl"),
        "apidojo~tweet-scraper": ({"twitterHandles": ["demo_x"], "maxItems": 2}, "likeCount"),
        "postpulse~threads-posts": ({"usernames": ["demo_threads"]}, "like_count"),
        "apify~instagram-scraper": ({"usernames": ["demo_instagram"]}, "likesCount"),
    }
    for actor, (inp, key) in cases.items():
        r = client.post(f"/v2/acts/{actor}/run-sync-get-dataset-items", headers=auth, json=inp)
        assert r.status_code == 200, (actor, r.text)
        assert r.json() and all(key in it for it in r.json()), actor
    one = client.post(
        "/v2/acts/clockworks~tiktok-scraper/runs",
        headers=auth,
        params={"waitForFinish": 5},
        json={"profiles": ["demo_tiktok"]},
    ).json()["data"]
    assert one["status"] == "SUCCEEDED"
    flat = client.get(
        f"/v2/datasets/{one['defaultDatasetId']}/items",
        headers=auth,
        params={"flatten": "authorMeta,videoMeta", "fields": "authorMeta.name,videoMeta.duration,diggCount"},
    ).json()
    assert set(flat[0]) == {"authorMeta.name", "videoMeta.duration", "diggCount"}
    post = client.get("/api/x/posts", params={"limit": 1}).json()[0]
    by_url = client.post(
        "/v2/acts/apidojo~tweet-scraper/run-sync-get-dataset-items",
        headers=auth,
        json={"startUrls": [{"url": post["url"]}]},
    ).json()
    assert [i["id"] for i in by_url] == [post["id"]]
    comments = client.post(
        "/v2/acts/clockworks~tiktok-comments-scraper/run-sync-get-dataset-items",
        headers=auth,
        json={"postURLs": [i["webVideoUrl"] for i in client.get("/api/tiktok/posts").json()]},
    )
    assert comments.status_code == 200 and all("cid" in c for c in comments.json())


def test_apify_auth_unknown_actor_and_bad_input(client):
    r = client.post("/v2/acts/apify~instagram-scraper/runs", json={})
    assert r.status_code == 401 and r.json()["error"]["type"] == "token-not-provided"
    r = client.post("/v2/acts/apify~instagram-scraper/runs", params={"token": "wrong"}, json={})
    assert r.status_code == 401 and "not valid" in r.json()["error"]["message"]
    assert client.get("/v2/datasets/abc/items").status_code == 401
    r = client.post("/v2/acts/nobody~nothing/runs", params=TOKEN, json={})
    assert r.status_code == 404 and "apify~instagram-scraper" in r.json()["error"]["message"]
    r = client.post("/v2/acts/apify~instagram-scraper/runs", params=TOKEN, content=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = client.post("/v2/acts/apify~instagram-scraper/runs", params=TOKEN, json=["a"])
    assert r.status_code == 400 and "JSON object" in r.json()["error"]["message"]
    r = client.post("/v2/acts/apify~instagram-scraper/runs", params=TOKEN, json={"resultsLimit": "ten"})
    assert r.status_code == 400 and "resultsLimit" in r.json()["error"]["message"]
    assert client.get("/v2/actor-runs/nope", params=TOKEN).status_code == 404
    assert client.get("/v2/datasets/nope/items", params=TOKEN).status_code == 404


def test_token_from_environment(monkeypatch):
    monkeypatch.setenv("SANDBOX_APIFY_TOKEN", "env-secret")
    with SandboxServer(small_world(), time_scale=0.0) as srv:
        with httpx.Client(base_url=srv.base_url) as c:
            assert c.post("/v2/acts/apify~instagram-scraper/runs", params=TOKEN, json={}).status_code == 401
            assert (
                c.post(
                    "/v2/acts/apify~instagram-scraper/runs", params={"token": "env-secret"}, json={}
                ).status_code
                == 201
            )


@pytest.mark.parametrize(
    "method,path,kwargs",
    [
        ("GET", "/api/x/posts?limit=abc", {}),
        ("GET", "/api/x/posts?limit=-1", {}),
        ("GET", "/api/x/posts?profile=nobody", {}),
        ("GET", "/api/myspace/posts", {}),
        ("GET", "/api/x/comments", {}),
        ("GET", "/api/x/posts/%00%ff", {}),
        ("GET", "/v2/datasets/x/items?token=sandbox-token&format=xml", {}),
        ("GET", "/v2/actor-runs/x?token=sandbox-token&waitForFinish=zz", {}),
        ("POST", "/_admin/clock", {"content": b"[]"}),
        ("POST", "/_admin/clock", {"json": {"now": "yesterday"}}),
        ("POST", "/_admin/clock", {"json": {"advance_seconds": "1"}}),
        ("POST", "/_admin/faults", {"json": {"kind": "meteor"}}),
        ("POST", "/_admin/faults", {"json": {"kind": "slow", "params": {"delay": "fast"}}}),
        ("POST", "/_admin/faults", {"json": {"kind": "rate_limit", "params": {"bogus": 1}}}),
        ("POST", "/_admin/dm", {"json": {"platform": "x", "from": "nobody", "to": "demo_x", "text": "hi"}}),
        ("POST", "/_admin/dm", {"json": {"platform": "x", "from": "demo2_x", "to": "demo_x", "text": ""}}),
        ("POST", "/_admin/posts/x/123/explode", {}),
        ("POST", "/_admin/posts/x/123/delete", {}),
        ("POST", "/v2/acts/apify~instagram-scraper/runs?token=sandbox-token", {"content": b"x" * 1_100_000}),
        ("DELETE", "/api/x/posts", {}),
        ("POST", "/v2/acts/apify/instagram-scraper/runs?token=sandbox-token", {"json": {}}),
        ("GET", "/api/nothing/here/at/all", {}),
    ],
)
def test_malformed_api_requests_get_clear_4xx_json(shared_client, method, path, kwargs):
    r = shared_client.request(method, path, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    body = r.json()
    assert body["error"]["message"]
