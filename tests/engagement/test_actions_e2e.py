"""Every action type end to end: queue -> approve -> claim -> Chromium -> verify -> record, and the
result visible in the sandbox (its own state) and after a reload (verification_results)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.engagement.conftest import action_row, executor, make_account, posts_of, queue

pytestmark = pytest.mark.browser


def _attempts(engine, action_id):
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT a.*, v.verified, v.method, v.confidence FROM action_attempts a "
                    "LEFT JOIN verification_results v ON v.id = a.verification_id WHERE a.action_id = :i "
                    "ORDER BY attempted_at"
                ),
                {"i": action_id},
            ).mappings()
        ]


def test_like_unlike_follow_unfollow(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    pid = posts_of(sandbox, n=20)[0]
    like = queue(engine, vault, acc, "like", pid)
    target_user = next(u for u, p in sandbox.world.profiles["x"].items() if not p.is_ours)
    follow = queue(engine, vault, acc, "follow", target_user)
    ex = executor(engine, vault, sandbox, browser)
    rep = ex.run_batch()
    assert rep["completed"] == 2, rep
    assert sandbox.world.has_liked("x", "demo_x", pid)
    assert sandbox.world.is_following("x", "demo_x", target_user)
    for aid in (like, follow):
        assert action_row(engine, aid)["status"] == "completed"
        (att,) = _attempts(engine, aid)
        assert att["status"] == "success" and att["verified"] is True and att["method"] == "reload_verify"

    unlike = queue(engine, vault, acc, "unlike", pid)
    unfollow = queue(engine, vault, acc, "unfollow", target_user)
    rep = ex.run_batch()
    assert rep["completed"] == 2, rep
    assert not sandbox.world.has_liked("x", "demo_x", pid)
    assert not sandbox.world.is_following("x", "demo_x", target_user)
    # the earlier like/follow successes are superseded, so liking again is allowed
    assert _attempts(engine, like)[0]["superseded_at"] is not None
    assert _attempts(engine, follow)[0]["superseded_at"] is not None
    again = queue(engine, vault, acc, "like", pid)
    assert ex.run_batch()["completed"] == 1
    assert sandbox.world.has_liked("x", "demo_x", pid)
    assert action_row(engine, again)["status"] == "completed"
    assert action_row(engine, unlike)["status"] == action_row(engine, unfollow)["status"] == "completed"


def test_like_twice_is_rejected(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    pid = posts_of(sandbox, n=20)[1]
    first = queue(engine, vault, acc, "like", pid)
    ex = executor(engine, vault, sandbox, browser)
    ex.run_batch()
    second = queue(engine, vault, acc, "like", pid)
    rep = ex.run_batch()
    assert rep["claimed"] == 0 and rep["denied"] == 1
    row = action_row(engine, second)
    assert row["status"] == "rejected" and row["last_reason_code"] == "already_done"
    assert action_row(engine, first)["status"] == "completed"


def test_comment_reply_delete(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    now = sandbox.clock.now()
    # a post with a comment by someone else, to reply to
    post = next(
        p
        for p in sandbox.world.visible_posts("x", now)
        if any(
            c.parent_id is None and c.author != "demo_x"
            for c in sandbox.world.comments_for("x", p.post_id, now)
        )
    )
    other = next(
        c
        for c in sandbox.world.comments_for("x", post.post_id, now)
        if c.parent_id is None and c.author != "demo_x"
    )
    c1 = queue(engine, vault, acc, "comment", post.post_id, text_value="What a lovely view from the ridge!")
    r1 = queue(
        engine,
        vault,
        acc,
        "reply",
        other.comment_id,
        post_id=post.post_id,
        text_value="Agreed, thanks for sharing",
    )
    ex = executor(engine, vault, sandbox, browser)
    rep = ex.run_batch()
    assert rep["completed"] == 2, rep
    live = {c.text: c for c in sandbox.world.comments["x"].values() if c.live and c.author == "demo_x"}
    assert "What a lovely view from the ridge!" in live
    assert live["Agreed, thanks for sharing"].parent_id == other.comment_id
    (att,) = _attempts(engine, c1)
    cid = att["result"]["platform_comment_id"]
    assert cid == live["What a lovely view from the ridge!"].comment_id and att["verified"]
    assert _attempts(engine, r1)[0]["verified"]

    d = queue(engine, vault, acc, "delete_comment", cid, post_id=post.post_id)
    assert ex.run_batch()["completed"] == 1
    assert sandbox.world.comments["x"][cid].deleted
    assert _attempts(engine, d)[0]["verified"]


def test_dm_send_and_publish(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    target_user = sorted(u for u, p in sandbox.world.profiles["x"].items() if not p.is_ours)[-1]
    dm = queue(
        engine, vault, acc, "dm_send", target_user, text_value="Hi! Loved your last post about trails."
    )
    pub = queue(engine, vault, acc, "publish", None, text_value="Sunrise run done #sandbox")
    ex = executor(engine, vault, sandbox, browser)
    rep = ex.run_batch()
    assert rep["completed"] == 2, rep
    state = sandbox.world.state()["accounts"]["x:demo_x"]
    assert any(
        m["text"] == "Hi! Loved your last post about trails." and m["to"] == target_user
        for m in state["dms_sent"]
    )
    assert len(state["published"]) == 1
    att = _attempts(engine, pub)[0]
    assert att["result"]["platform_post_id"] == state["published"][0] and att["verified"]
    assert _attempts(engine, dm)[0]["verified"]
    # the queued DM text is encrypted; the sent message is kept encrypted in dm_messages
    with engine.connect() as conn:
        params = conn.execute(
            text("SELECT action_params::text FROM action_queue WHERE id = :i"), {"i": dm}
        ).scalar()
        assert "trails" not in params and "text_encrypted" in params
        (n,) = conn.execute(
            text(
                "SELECT count(*) FROM dm_messages WHERE is_from_us AND content_encrypted IS NOT NULL "
                "AND action_attempt_id IS NOT NULL"
            )
        ).one()
        assert n == 1
        audit_text = conn.execute(text("SELECT string_agg(details::text, ' ') FROM audit_entries")).scalar()
        assert "trails" not in audit_text
