"""Bluesky against a real local AT Protocol stack (PDS, PLC, AppView on 127.0.0.1).

One file on purpose: the session-scoped stack starts once per worker (``--dist loadfile``).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
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


def _feed(appview_url: str, actor: str) -> list[dict]:
    with AppView(appview_url) as av:
        return list(av.author_feed(actor))


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
    assert wait_until(lambda: _feed(bluesky_stack.urls.appview, carol.did))  # indexed, then stopped
    before = bluesky_stack.urls
    bluesky_stack.restart()
    assert bluesky_stack.urls == before and bluesky_stack.alive()
    client = bsky_session.login(bluesky_stack.urls.pds, carol.handle, carol.password)
    with AppView(bluesky_stack.urls.appview) as av:
        feed = list(av.author_feed(client.me.did))
    assert [p["record"]["text"] for p in feed] == ["before the restart"]
    client.send_post("after the restart")  # the PDS writes and the AppView indexes again
    assert wait_until(lambda: len(_feed(bluesky_stack.urls.appview, carol.did)) == 2)


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
        failures = (
            conn.execute(
                text("SELECT details FROM audit_entries WHERE event_type = 'login' AND outcome = 'failure'")
            )
            .scalars()
            .all()
        )
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


# ----------------------------------------------------------------------------- collection


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_collect_lands_posts_replies_and_counts_like_an_import(bluesky_stack, new_account, engine, vault):
    urls = bluesky_stack.urls
    dana, erin = new_account("dana"), new_account("erin")
    acc = connect_account(engine, vault, dana.handle, dana.password, service=urls.pds)
    first = dana.client.send_post("first post #launch")
    dana.client.send_post("second post")
    erin.client.follow(dana.did)
    erin.client.like(first.uri, first.cid)
    reply = erin.client.send_post(
        "congrats!",
        reply_to={
            "root": {"uri": first.uri, "cid": first.cid},
            "parent": {"uri": first.uri, "cid": first.cid},
        },
    )
    erin.client.send_post("erin's own post")
    assert wait_until(lambda: _liked(urls.appview, first.uri, 1))

    with AppView(urls.appview) as av:
        res = collect(engine, av, actors=[dana.did, erin.handle], watch=[erin.handle], search="post")
    assert res.import_result.status == "completed" and res.profiles == 2
    with engine.connect() as conn:
        run = (
            conn.execute(text("SELECT * FROM download_runs WHERE id = :r"), {"r": res.run_id})
            .mappings()
            .one()
        )
        posts = {
            r.platform_post_id: r
            for r in conn.execute(text("SELECT * FROM posts WHERE platform = 'bluesky'")).mappings()
        }
        comment = conn.execute(
            text("SELECT * FROM comments WHERE platform_comment_id = :u"), {"u": reply.uri}
        ).one()
        account = (
            conn.execute(text("SELECT * FROM accounts WHERE id = :a"), {"a": acc["id"]}).mappings().one()
        )
        usage = conn.execute(
            text("SELECT endpoint, status_code, items FROM api_usage WHERE run_id = :r"), {"r": res.run_id}
        ).all()
        tracked = conn.execute(
            text("SELECT is_tracked FROM profiles WHERE username = :h"), {"h": erin.handle}
        ).scalar()
    assert run["source_kind"] == "api" and run["format"] == "bluesky_posts" and run["status"] == "completed"
    texts = sorted(p["text_content"] for p in posts.values())
    assert texts == ["congrats!", "erin's own post", "first post #launch", "second post"], texts
    assert run["posts_new"] == len(posts) == 4  # dana's 2, erin's post and her reply: nothing twice
    p = posts[first.uri]
    assert p["like_count"] == 1 and p["comment_count"] == 1 and p["account_id"] == acc["id"]
    assert p["url"].startswith("https://bsky.app/profile/") and p["hashtags"] == ["launch"]
    assert p["next_check_at"] is not None  # tracked: check-backs will come
    assert comment.post_id == p["id"] and comment.text == "congrats!"
    assert account["followers_count"] == 1 and account["posts_count"] == 2
    assert {u.endpoint for u in usage} >= {
        "app.bsky.actor.getProfile",
        "app.bsky.feed.getAuthorFeed",
        "app.bsky.feed.getPostThread",
        "app.bsky.feed.searchPosts",
    }
    assert all(u.status_code == 200 for u in usage) and tracked is True

    # a second collection: same posts (natural keys), one new snapshot each, a second run
    with AppView(urls.appview) as av:
        again = collect(engine, av, actors=[dana.did])
    assert again.import_result.posts_new == 0 and again.import_result.snapshots_new == 2
    assert _count(engine, "SELECT count(*) FROM posts WHERE platform = 'bluesky'") == 4
    assert _count(engine, "SELECT count(*) FROM download_runs WHERE source_kind = 'api'") == 2


def test_collect_faults_store_nothing(bluesky_stack, new_account, engine):
    fay = new_account("fay")
    fay.client.send_post("hello")
    assert wait_until(lambda: _feed(bluesky_stack.urls.appview, fay.did))
    with AppView("http://127.0.0.1:9") as down, pytest.raises(ServiceDown, match="does not answer"):
        collect(engine, down, actors=[fay.did])
    with AppView(bluesky_stack.urls.appview) as av, pytest.raises(Exception, match="does not exist"):
        collect(engine, av, actors=[fay.did, "nobody-at-all.test"])
    assert _count(engine, "SELECT count(*) FROM download_runs") == 0
    assert _count(engine, "SELECT count(*) FROM posts") == 0


def test_cli_collect_names_the_fix(bluesky_stack, store_env):
    r = runner.invoke(app, ["bluesky", "collect", "--appview", bluesky_stack.urls.appview])
    assert r.exit_code == 1 and "nothing to collect" in r.output
    r = runner.invoke(
        app, ["bluesky", "collect", "--profile", "ghost.test", "--appview", bluesky_stack.urls.appview]
    )
    assert r.exit_code == 1 and "does not exist" in r.output and "Traceback" not in r.output


# ----------------------------------------------------------------------------- check-backs


def test_checkbacks_batch_getposts_snapshot_counts_and_mark_deleted(bluesky_stack, new_account, engine):
    urls = bluesky_stack.urls
    gus, hal = new_account("gus"), new_account("hal")
    made = [gus.client.send_post(f"post {i}") for i in range(30)]  # two getPosts calls: 25 + 5
    assert wait_until(lambda: len(_feed(urls.appview, gus.did)) == 30)
    with AppView(urls.appview) as av:
        collect(engine, av, actors=[gus.did])
    hal.client.like(made[0].uri, made[0].cid)
    hal.client.repost(made[0].uri, made[0].cid)
    gus.client.delete_post(made[1].uri)
    assert wait_until(
        lambda: _liked(urls.appview, made[0].uri, 1) and len(_feed(urls.appview, gus.did)) == 29
    )
    with engine.connect() as conn:
        ids = list(
            conn.execute(text("SELECT id FROM posts WHERE platform = 'bluesky' ORDER BY id")).scalars()
        )
    with AppView(urls.appview) as av:
        res = run_bluesky_checkbacks(engine, ids, appview=av)
    assert (res.checked, res.deleted, res.failed) == (29, 1, 0)
    with engine.connect() as conn:
        liked = conn.execute(
            text("SELECT like_count, share_count FROM posts WHERE platform_post_id = :u"), {"u": made[0].uri}
        ).one()
        deleted = conn.execute(
            text("SELECT is_deleted, deleted_at FROM posts WHERE platform_post_id = :u"), {"u": made[1].uri}
        ).one()
        snaps = conn.execute(
            text(
                "SELECT count(*) FROM data_downloads d JOIN posts p ON p.id = d.post_id "
                "WHERE p.platform_post_id = :u"
            ),
            {"u": made[0].uri},
        ).scalar()
        calls = (
            conn.execute(
                text("SELECT items FROM api_usage WHERE run_id = :r AND endpoint = 'app.bsky.feed.getPosts'"),
                {"r": res.run_id},
            )
            .scalars()
            .all()
        )
    assert tuple(liked) == (1, 1) and deleted.is_deleted and deleted.deleted_at is not None
    assert snaps == 2  # the collection's and the check-back's
    assert len(calls) == 2 and sum(calls) == 29  # 30 posts in two calls; the deleted one did not come back


class _RateLimitedAppView(BaseHTTPRequestHandler):
    """A stand-in AppView that is over its rate limit: every call gets 429 with ratelimit-*."""

    hits = 0

    def do_GET(self):  # noqa: N802
        type(self).hits += 1
        self.send_response(429)
        self.send_header("content-type", "application/json")
        self.send_header("ratelimit-limit", "3000")
        self.send_header("ratelimit-remaining", "0")
        self.send_header("ratelimit-reset", str(int(time.time()) + 2))
        self.end_headers()
        self.wfile.write(b'{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def rate_limited_appview():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimitedAppView)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _RateLimitedAppView.hits = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_429_waits_for_the_reset_then_fails_the_batch_and_records_the_headers(
    bluesky_stack, new_account, engine, rate_limited_appview
):
    ivy = new_account("ivy")
    ivy.client.send_post("will be checked")
    assert wait_until(lambda: _feed(bluesky_stack.urls.appview, ivy.did))
    with AppView(bluesky_stack.urls.appview) as av:
        collect(engine, av, actors=[ivy.did])
    with engine.connect() as conn:
        ids = list(conn.execute(text("SELECT id FROM posts")).scalars())
        before = conn.execute(text("SELECT like_count, checks_completed FROM posts")).one()
    t0 = time.monotonic()
    with AppView(rate_limited_appview, max_wait=5) as av:
        res = run_bluesky_checkbacks(engine, ids, appview=av)
    waited = time.monotonic() - t0
    assert _RateLimitedAppView.hits == 2 and waited >= 1.0  # waited for ratelimit-reset, tried once more
    assert res.failed == 1 and "rate limit" in res.errors[0] and "resets at" in res.errors[0]
    with engine.connect() as conn:
        after = conn.execute(text("SELECT like_count, checks_completed, check_failures FROM posts")).one()
        usage = conn.execute(
            text(
                "SELECT status_code, ratelimit_limit, ratelimit_remaining, ratelimit_reset_at FROM api_usage "
                "WHERE run_id = :r"
            ),
            {"r": res.run_id},
        ).all()
    assert (after.like_count, after.checks_completed) == tuple(before) and after.check_failures == 1
    assert [(u.status_code, u.ratelimit_limit, u.ratelimit_remaining) for u in usage] == [(429, 3000, 0)] * 2
    assert all(u.ratelimit_reset_at is not None for u in usage)
    with AppView(rate_limited_appview, max_wait=0) as av, pytest.raises(RateLimited, match="HTTP 429"):
        av.get_posts(["at://did:plc:x/app.bsky.feed.post/y"])


# ----------------------------------------------------------------------------- actions (API driver)

OPEN_SETTINGS = {
    "quiet_hours": None,
    "rate_limits": {
        a: {"per_hour": 200, "per_day": 1000}
        for a in (
            "like",
            "unlike",
            "comment",
            "reply",
            "follow",
            "unfollow",
            "publish",
            "repost",
            "delete_post",
        )
    },
}


def _image(path, size: int, *, noise: bool = False):
    import os

    from PIL import Image

    img = (
        Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
        if noise
        else Image.new("RGB", (size, size), (30, 120, 200))
    )
    img.save(path, format="PNG")
    return str(path)


def _queue(engine, account: str, action_type: str, **kw) -> str:
    from postpulse.engagement import repository as repo

    with engine.begin() as conn:
        row = repo.add_action(conn, account=account, action_type=action_type, platform="bluesky", **kw).action
        repo.decide(conn, [row["id"]], "approve")
    return row["id"]


def _run(engine, vault) -> dict:
    from postpulse.engagement.executor import Executor, ExecutorConfig

    return Executor(engine, vault, config=ExecutorConfig(backoff_base=0.05, backoff_max=0.2)).run_until_idle()


def _action(engine, action_id: str) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT q.status, q.last_reason_code, q.last_error, t.status AS attempt, t.result, "
                    "v.verified, v.method FROM action_queue q "
                    "LEFT JOIN action_attempts t ON t.action_id = q.id "
                    "LEFT JOIN verification_results v ON v.id = t.verification_id "
                    "WHERE q.id = :a ORDER BY t.attempted_at DESC LIMIT 1"
                ),
                {"a": action_id},
            )
            .mappings()
            .one()
        )


@pytest.fixture
def connected(bluesky_stack, new_account, engine, vault):
    """Our account (connected, authorized, open limits) and another account with a post."""
    ours, other = new_account("ours"), new_account("other")
    connect_account(engine, vault, ours.handle, ours.password, service=bluesky_stack.urls.pds, authorize=True)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET settings = CAST(:s AS jsonb) WHERE username = :h"),
            {"s": json.dumps(OPEN_SETTINGS), "h": ours.handle},
        )
    post = other.client.send_post("a post to engage with")
    assert wait_until(lambda: _feed(bluesky_stack.urls.appview, other.did))
    return ours, other, post


def test_actions_run_through_the_api_driver_and_are_verified_on_the_appview(
    bluesky_stack, connected, engine, vault, tmp_path
):
    ours, other, post = connected
    appview = bluesky_stack.urls.appview
    a_like = _queue(engine, ours.handle, "like", target_id=post.uri)
    a_repost = _queue(engine, ours.handle, "repost", target_id=post.uri)
    a_reply = _queue(
        engine, ours.handle, "reply", target_id=post.uri, post_id=post.uri, text_value="well said!"
    )
    a_follow = _queue(engine, ours.handle, "follow", target_id=other.handle)
    images = [
        {"path": _image(tmp_path / "one.png", 64), "alt": "a blue square"},
        {"path": _image(tmp_path / "two.png", 32), "alt": "a smaller one"},
    ]
    text_out = f"launch day with @{other.handle} https://example.com/launch"
    a_publish = _queue(engine, ours.handle, "publish", text_value=text_out, params={"media": images})
    summary = _run(engine, vault)
    assert summary.get("claimed") == 5, summary
    for action_id in (a_like, a_repost, a_reply, a_follow, a_publish):
        row = _action(engine, action_id)
        assert (row["status"], row["attempt"], row["verified"], row["method"]) == (
            "completed",
            "success",
            True,
            "reload_verify",
        ), row

    with AppView(appview) as av:
        seen = av.get_posts([post.uri])[0]
        published_uri = _action(engine, a_publish)["result"]["platform_post_id"]
        published = av.get_posts([published_uri])[0]
        followers = av.profile(other.did)["followersCount"]
        replies = av.thread_replies(post.uri)
    assert (seen["likeCount"], seen["repostCount"], seen["replyCount"]) == (1, 1, 1)
    assert [r["record"]["text"] for r in replies] == ["well said!"] and followers == 1
    assert [i["alt"] for i in published["embed"]["images"]] == ["a blue square", "a smaller one"]
    features = {f["features"][0]["$type"] for f in published["record"]["facets"]}
    assert features == {"app.bsky.richtext.facet#mention", "app.bsky.richtext.facet#link"}
    with engine.connect() as conn:
        ours_comment = conn.execute(
            text("SELECT is_ours FROM comments WHERE platform_comment_id = :u"),
            {"u": _action(engine, a_reply)["result"]["reply_uri"]},
        ).scalar()
    assert ours_comment is True

    # the way back: unlike, unfollow, delete our post -- each verified the same way
    b_unlike = _queue(engine, ours.handle, "unlike", target_id=post.uri)
    b_unfollow = _queue(engine, ours.handle, "unfollow", target_id=other.did)
    b_delete = _queue(engine, ours.handle, "delete_post", target_id=published_uri)
    _run(engine, vault)
    for action_id in (b_unlike, b_unfollow, b_delete):
        row = _action(engine, action_id)
        assert (row["status"], row["verified"]) == ("completed", True), row
    with AppView(appview) as av:
        assert av.get_posts([post.uri])[0]["likeCount"] == 0
        assert av.get_posts([published_uri]) == []
        assert av.profile(other.did)["followersCount"] == 0
    # a like retried on a post we already like does not like twice
    c_like = _queue(engine, ours.handle, "like", target_id=post.uri)
    _run(engine, vault)
    assert _action(engine, c_like)["status"] == "completed"
    with AppView(appview) as av:
        assert wait_until(lambda: av.get_posts([post.uri])[0]["likeCount"] == 1)


def test_an_unknown_author_is_read_from_the_appview_before_acting(
    bluesky_stack, connected, new_account, engine, vault
):
    """Posts the store has never seen: their authors are read from the AppView, the opted-out
    one's post is neither liked nor replied to, the other one's is liked."""
    from postpulse.engagement import repository as repo

    ours, other, post = connected
    third = new_account("third")
    theirs = third.client.send_post("nobody opted out here")
    assert wait_until(lambda: _feed(bluesky_stack.urls.appview, third.did))
    with engine.begin() as conn:
        repo.add_blocklist_entry(
            conn, entry_type="user", value=other.handle, platform="bluesky", added_by="opt_out", reason="no"
        )
    refused = [
        _queue(engine, ours.handle, "like", target_id=post.uri),
        _queue(engine, ours.handle, "reply", target_id=post.uri, post_id=post.uri, text_value="hi"),
    ]
    liked = _queue(engine, ours.handle, "like", target_id=theirs.uri)
    _run(engine, vault)
    for action_id in refused:
        row = _action(engine, action_id)
        assert (row["status"], row["last_reason_code"]) == ("rejected", "opted_out"), row
    assert _action(engine, liked)["status"] == "completed"
    with AppView(bluesky_stack.urls.appview) as av:
        assert wait_until(lambda: av.get_posts([theirs.uri])[0]["likeCount"] == 1)
        not_theirs = av.get_posts([post.uri])[0]
    assert (not_theirs["likeCount"], not_theirs["replyCount"]) == (0, 0)


def test_action_faults_fail_clearly_and_flag_the_account(bluesky_stack, connected, engine, vault, tmp_path):
    ours, other, post = connected
    # an image over Bluesky's limit: refused before anything is uploaded
    big = _image(tmp_path / "big.png", 700, noise=True)
    a_big = _queue(engine, ours.handle, "publish", text_value="too big", params={"media": [{"path": big}]})
    # a post deleted between the queue and the execution
    doomed = other.client.send_post("soon gone")
    assert wait_until(lambda: len(_feed(bluesky_stack.urls.appview, other.did)) == 2)
    a_gone = _queue(engine, ours.handle, "like", target_id=doomed.uri)
    other.client.delete_post(doomed.uri)
    assert wait_until(lambda: len(_feed(bluesky_stack.urls.appview, other.did)) == 1)
    _run(engine, vault)
    big_row, gone_row = _action(engine, a_big), _action(engine, a_gone)
    assert big_row["status"] == "failed" and big_row["last_reason_code"] == "image_too_large"
    assert "1,000,000 bytes" in big_row["last_error"]
    assert gone_row["status"] == "failed" and gone_row["last_reason_code"] == "target_not_found"
    assert "deleted since it was queued" in gone_row["last_error"]
    with AppView(bluesky_stack.urls.appview) as av:
        assert av.get_posts([post.uri])[0]["likeCount"] == 0
        assert _feed(bluesky_stack.urls.appview, ours.did) == []  # nothing was published

    # the session: access token expired and the refresh token revoked -> the account is flagged
    from atproto_client.client.session import Session

    from postpulse.engagement.sessions import load_session, store_session

    with engine.connect() as conn:
        acc_id = conn.execute(
            text("SELECT id FROM accounts WHERE username = :h"), {"h": ours.handle}
        ).scalar()
        state = load_session(conn, vault, acc_id)
    # an expired access token is refreshed on the next action, and the new tokens are stored at once
    with engine.begin() as conn:
        store_session(conn, vault, acc_id, {**state, "session": _expired(state["session"])})
    a_refresh = _queue(engine, ours.handle, "like", target_id=post.uri)
    _run(engine, vault)
    assert _action(engine, a_refresh)["status"] == "completed"
    with engine.connect() as conn:
        refreshed = load_session(conn, vault, acc_id)
    old, new = Session.decode(state["session"]), Session.decode(refreshed["session"])
    assert new.refresh_jwt != old.refresh_jwt and new.access_jwt != old.access_jwt
    state = refreshed

    live = bsky_session.resume(state)
    live.com.atproto.server.delete_session(
        headers={"Authorization": f"Bearer {Session.decode(state['session']).refresh_jwt}"}
    )
    with engine.begin() as conn:
        store_session(conn, vault, acc_id, {**state, "session": _expired(state["session"])})
    a_after = _queue(engine, ours.handle, "repost", target_id=post.uri)
    _run(engine, vault)
    row = _action(engine, a_after)
    with engine.connect() as conn:
        flagged = conn.execute(
            text("SELECT needs_relogin, status FROM accounts WHERE id = :a"), {"a": acc_id}
        ).one()
    assert row["last_reason_code"] in ("session_expired", "needs_relogin") and row["status"] != "completed"
    assert tuple(flagged) == (True, "expired")


def _expired(session_string: str) -> str:
    """The same session with its access token's ``exp`` in the past: the SDK refreshes first."""
    import base64

    from atproto_client.client.session import Session

    s = Session.decode(session_string)
    head, payload, sig = s.access_jwt.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["exp"] = int(time.time()) - 3600
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    s.access_jwt = f"{head}.{payload}.{sig}"
    return s.encode()


# ----------------------------------------------------------------------------- Dagster


def test_dagster_sensor_collects_a_new_account_and_the_shared_checkback_job_serves_bluesky(
    bluesky_stack, new_account, store_env, engine, vault, monkeypatch
):
    from dagster import DagsterInstance, build_sensor_context

    from orchestration.bluesky import bluesky_new_account_sensor
    from orchestration.definitions import defs
    from orchestration.ingest import checkback_sensor
    from resources.store import PostgresStore

    monkeypatch.setenv("POSTPULSE_BLUESKY_APPVIEW", bluesky_stack.urls.appview)
    jay = new_account("jay")
    jay.client.send_post("from the schedule")
    assert wait_until(lambda: _feed(bluesky_stack.urls.appview, jay.did))
    instance = DagsterInstance.ephemeral()
    store = PostgresStore(database_url=store_env)
    tick = bluesky_new_account_sensor(build_sensor_context(instance=instance, resources={"store": store}))
    assert not tick.run_requests  # nothing connected yet
    connect_account(engine, vault, jay.handle, jay.password, service=bluesky_stack.urls.pds)
    tick = bluesky_new_account_sensor(
        build_sensor_context(instance=instance, resources={"store": store}, cursor=tick.cursor)
    )
    assert len(tick.run_requests) == 1
    res = defs.resolve_job_def("bluesky_collect").execute_in_process(instance=instance)
    assert res.success
    mat = res.asset_materializations_for_node("bluesky_posts")[0]
    assert mat.metadata["posts"].value == 1 and mat.metadata["accounts"].value == 1
    assert mat.metadata["appview"].value == bluesky_stack.urls.appview
    again = bluesky_new_account_sensor(
        build_sensor_context(instance=instance, resources={"store": store}, cursor=tick.cursor)
    )
    assert not again.run_requests  # seen already

    with engine.begin() as conn:  # the post's first check-back slot comes due
        conn.execute(text("UPDATE posts SET next_check_at = now() - interval '1 minute'"))
    batches = checkback_sensor(build_sensor_context(instance=instance, resources={"store": store}))
    (request,) = [r for r in batches.run_requests if r.tags["postpulse/platform"] == "bluesky"]
    res = defs.resolve_job_def("checkback").execute_in_process(
        run_config=request.run_config, instance=instance
    )
    assert res.success
    with engine.connect() as conn:
        failures = conn.execute(text("SELECT check_failures FROM posts")).scalar()
        runs = conn.execute(
            text("SELECT count(*) FROM download_runs WHERE source_kind = 'checkback'")
        ).scalar()
        snapshots = conn.execute(text("SELECT count(*) FROM data_downloads")).scalar()
        calls = conn.execute(
            text("SELECT count(*) FROM api_usage WHERE endpoint = 'app.bsky.feed.getPosts'")
        ).scalar()
    assert (runs, failures, snapshots, calls) == (1, 0, 2, 1)


# ----------------------------------------------------------------------------- end to end


def test_cli_stack_refuses_a_second_start_on_the_same_data(bluesky_stack, store_env):
    r = runner.invoke(app, ["bluesky", "stack", "--data", str(bluesky_stack.data_dir), "--timeout", "30"])
    assert r.exit_code == 1 and "ports, and these are taken" in r.output and "Traceback" not in r.output


@pytest.mark.browser  # `postpulse actions run --execute` opens Chromium for the browser drivers
def test_end_to_end_connect_collect_checkback_query_and_an_approved_reply(
    bluesky_stack, new_account, store_env, engine
):
    """What a new user does: the stack runs; two accounts are made with the SDK; one is connected
    with `postpulse accounts`; it posts and the other likes; a check-back shows the count grow in
    `postpulse query`; a queued reply runs only after approval."""
    urls = bluesky_stack.urls
    me, fan = new_account("me"), new_account("fan")
    r = runner.invoke(
        app,
        ["accounts", "connect", "bluesky", "--handle", me.handle, "--service", urls.pds, "--authorize"],
        input=me.password + "\n",
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["accounts", "settings", me.handle, "--no-quiet-hours"])
    assert r.exit_code == 0, r.output

    post = me.client.send_post("our launch post")
    assert wait_until(lambda: _feed(urls.appview, me.did))
    r = runner.invoke(app, ["bluesky", "collect", "--account", me.handle, "--appview", urls.appview])
    assert r.exit_code == 0 and "1 posts" in r.output, r.output

    def likes_in_query() -> str:
        out = runner.invoke(
            app,
            [
                "query",
                f"SELECT like_count FROM posts WHERE platform_post_id = '{post.uri}'",
                "--format",
                "csv",
            ],
        )
        assert out.exit_code == 0, out.output
        return out.output.strip().splitlines()[-1]

    assert likes_in_query() == "0"
    fan.client.like(post.uri, post.cid)
    assert wait_until(lambda: _liked(urls.appview, post.uri, 1))
    r = runner.invoke(app, ["bluesky", "checkback", "--now", "--appview", urls.appview])
    assert r.exit_code == 0 and "1 checked" in r.output, r.output
    assert likes_in_query() == "1"

    r = runner.invoke(
        app,
        [
            "actions",
            "add",
            "--account",
            me.handle,
            "--platform",
            "bluesky",
            "--type",
            "reply",
            "--target",
            post.uri,
            "--post",
            post.uri,
            "--text",
            "thanks for the like!",
        ],
    )
    assert r.exit_code == 0 and ": queued" in r.output, r.output
    action_id = r.output.split()[0]
    r = runner.invoke(app, ["actions", "run", "--execute"])
    assert r.exit_code == 0 and '"claimed": 0' in r.output, r.output  # not approved: nothing runs
    with AppView(urls.appview) as av:
        assert av.thread_replies(post.uri) == []
    r = runner.invoke(app, ["actions", "approve", action_id])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["actions", "run", "--execute"])
    assert r.exit_code == 0 and '"claimed": 1' in r.output, r.output
    with AppView(urls.appview) as av:
        assert [p["record"]["text"] for p in av.thread_replies(post.uri)] == ["thanks for the like!"]
    with engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM action_queue WHERE id = :a"), {"a": action_id}
        ).scalar()
        audit = conn.execute(
            text("SELECT count(*) FROM audit_entries WHERE action_id = :a AND event_type = 'approval'"),
            {"a": action_id},
        ).scalar()
    assert status == "completed" and audit >= 1


def test_demo_seed_connects_our_account_and_activity_grows(bluesky_stack, engine, vault):
    """`postpulse up --bluesky`'s seeding, on the session's stack."""
    import random

    from postpulse.bluesky.demo import OURS, seed_demo

    demo = seed_demo(engine, vault, bluesky_stack, interval=3600)
    ours = demo.accounts[OURS]
    with engine.connect() as conn:
        acc = conn.execute(
            text(
                "SELECT is_authorized, session_encrypted IS NOT NULL AS s FROM accounts WHERE username = :h"
            ),
            {"h": ours["handle"]},
        ).one()
        watched = conn.execute(text("SELECT username FROM profiles WHERE is_tracked")).scalars().all()
        before = conn.execute(text("SELECT count(*) FROM posts WHERE platform = 'bluesky'")).scalar()
    assert tuple(acc) == (True, True) and watched == ["ana-demo.test"] and before >= 1
    happened = [demo.step(random.Random(i)) for i in range(6)]
    assert all(h.startswith("@") for h in happened)
    with AppView(bluesky_stack.urls.appview) as av:
        res = collect(engine, av, actors=[ours["did"]])
    assert res.import_result.snapshots_new >= 1
