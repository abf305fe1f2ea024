"""Comments and replies our accounts post land in ``comments``: linked to the post (a known one,
or a minimal row for an unknown one), replies to their parent, marked as ours with the attempt
and the action; idempotency sees them; delete_comment removes them; retention keeps their posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from postpulse.engagement.retention import run_retention
from tests.engagement.conftest import action_row, executor, make_account, queue


def _comments(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {
            r["platform_comment_id"]: dict(r)
            for r in conn.execute(
                text(
                    "SELECT c.*, p.platform_post_id AS on_post, par.platform_comment_id AS parent_pcid "
                    "FROM comments c "
                    "JOIN posts p ON p.id = c.post_id LEFT JOIN comments par ON par.id = c.parent_comment_id"
                )
            ).mappings()
        }


@pytest.mark.browser
def test_comments_and_replies_are_stored_as_ours(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    now = sandbox.clock.now()
    posts = [
        p
        for p in sandbox.world.visible_posts("x", now)
        if any(
            c.parent_id is None and c.author != "demo_x"
            for c in sandbox.world.comments_for("x", p.post_id, now)
        )
    ]
    known, unknown = posts[-1], posts[-2]
    parent = next(
        c
        for c in sandbox.world.comments_for("x", known.post_id, now)
        if c.parent_id is None and c.author != "demo_x"
    )
    # the post and its comment were imported earlier (as ingest would store them)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, text_content) VALUES ('p-0000c001', 'x', "
                ":pp, 't')"
            ),
            {"pp": known.post_id},
        )
        conn.execute(
            text(
                "INSERT INTO comments (id, platform, platform_comment_id, post_id, author_username, text) "
                "VALUES ('cmt-0000c001', 'x', :c, 'p-0000c001', :u, 'their comment')"
            ),
            {"c": parent.comment_id, "u": parent.author},
        )
    c1 = queue(engine, vault, acc, "comment", unknown.post_id, text_value="Such a calm   morning light")
    r1 = queue(
        engine,
        vault,
        acc,
        "reply",
        parent.comment_id,
        post_id=known.post_id,
        text_value="Thank you, glad you liked it",
    )
    ex = executor(engine, vault, sandbox, browser)
    rep = ex.run_batch()
    assert rep["completed"] == 2, rep

    with engine.connect() as conn:
        att = {
            r[0]: r[1]
            for r in conn.execute(text("SELECT action_id, id FROM action_attempts WHERE status = 'success'"))
        }
    rows = _comments(engine)
    ours = {k: v for k, v in rows.items() if v["is_ours"]}
    assert len(ours) == 2 and rows[parent.comment_id]["is_ours"] is False
    com = next(v for v in ours.values() if not v["is_reply"])
    rep_row = next(v for v in ours.values() if v["is_reply"])
    live = {c.comment_id: c for c in sandbox.world.comments["x"].values() if c.live and c.author == "demo_x"}
    assert com["platform_comment_id"] in live and rep_row["platform_comment_id"] in live
    assert com["on_post"] == unknown.post_id and com["text"] == "Such a calm   morning light"
    assert com["account_id"] == acc and com["author_username"] == "demo_x"
    assert com["action_attempt_id"] == att[c1] and com["raw_json"]["postpulse"]["action_id"] == c1
    assert rep_row["on_post"] == known.post_id and rep_row["post_id"] == "p-0000c001"
    assert rep_row["parent_pcid"] == parent.comment_id and rep_row["action_attempt_id"] == att[r1]
    with engine.connect() as conn:
        # the unknown post got a minimal row (and the comment marks it engaged)
        stub = conn.execute(
            text(
                "SELECT raw_json, engagement_status FROM posts WHERE platform = 'x' AND platform_post_id = :p"
            ),
            {"p": unknown.post_id},
        ).one()
        assert stub[0] == {"source": "postpulse-engagement"} and stub[1] == "commented"

    # idempotency sees the comments table: the attempts are gone (as after retention), the same
    # text (other spacing/case) is still refused; another text is allowed
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM action_attempts"))
    again = queue(engine, vault, acc, "comment", unknown.post_id, text_value="such a calm morning LIGHT")
    again_reply = queue(
        engine,
        vault,
        acc,
        "reply",
        parent.comment_id,
        post_id=known.post_id,
        text_value="Thank you, glad you liked it",
    )
    other = queue(engine, vault, acc, "comment", unknown.post_id, text_value="And the colours!")
    preview = {d["action_id"]: d for d in ex.preview()}
    assert preview[again]["reason_code"] == preview[again_reply]["reason_code"] == "already_done"
    assert preview[other]["outcome"] == "allow"
    with engine.begin() as conn:
        conn.execute(text("UPDATE action_queue SET status = 'cancelled' WHERE id = :i"), {"i": other})
    rep = ex.run_batch()
    assert rep["claimed"] == 0
    assert (
        action_row(engine, again)["last_reason_code"]
        == action_row(engine, again_reply)["last_reason_code"]
        == "already_done"
    )

    # deleting our comment removes our row
    d = queue(engine, vault, acc, "delete_comment", com["platform_comment_id"], post_id=unknown.post_id)
    assert ex.run_batch()["completed"] == 1, action_row(engine, d)
    assert com["platform_comment_id"] not in _comments(engine)


def test_retention_keeps_posts_with_our_comments(engine, tmp_path):
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    old = now - timedelta(days=120)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, platform, platform_user_id, username) VALUES ('acc-00000001', "
                "'x', 'me', 'me')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, first_seen_at) VALUES "
                "('p-00000001', 'x', 'with-our-reply', :o), ('p-00000002', 'x', 'with-their-comment', :o)"
            ),
            {"o": old},
        )
        conn.execute(
            text(
                "INSERT INTO comments (id, platform, platform_comment_id, post_id, is_ours, account_id, "
                "text, raw_json, is_reply) "
                "VALUES ('cmt-00000001', 'x', 'c1', 'p-00000001', true, 'acc-00000001', 'ours', '{}', true), "
                "('cmt-00000002', 'x', 'c2', 'p-00000002', false, NULL, 'theirs', NULL, false)"
            )
        )
    counts = run_retention(engine, now, screenshots=tmp_path)
    assert counts["posts_deleted"] == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT platform_post_id FROM posts")).scalars().all() == ["with-our-reply"]
        assert conn.execute(text("SELECT id FROM comments")).scalars().all() == ["cmt-00000001"]
