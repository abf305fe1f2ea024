"""The policy on the target's author, end to end: stored ids resolved to the platform's, authors
from the store refused at queue time (CLI), unknown authors read from the page by the executor
before acting (real sandbox, real Chromium), and the allowlist mode."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.engagement import repository as repo
from tests.engagement.conftest import OPEN_SETTINGS, action_row, executor, make_account, now_utc, queue


def said(result) -> str:
    """What a CLI call told the user (stdout, stderr, or the error it raised)."""
    return " ".join(((result.output or "") + " " + str(result.exception or "")).split())


def _opt_out(engine, username, platform="x"):
    with engine.begin() as conn:
        repo.add_blocklist_entry(
            conn, entry_type="user", value=username, platform=platform, added_by="opt_out", reason="asked"
        )


def _store_posts(engine):
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, url, author_username, text_content) "
                "VALUES "
                "('p-0000a001', 'x', 'PX1', 'http://127.0.0.1/x/post/PX1', 'Quitter', 'hi'), "
                "('p-0000a002', 'x', 'PX2', NULL, 'friend', 'hello'), "
                "('p-0000a003', 'instagram', 'IG1', NULL, 'friend', 'hello')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO comments (id, platform, platform_comment_id, post_id, author_username, text) "
                "VALUES "
                "('cmt-0000a001', 'x', 'C-Q', 'p-0000a002', 'quitter', 'their comment'), "
                "('cmt-0000a002', 'x', 'C-F', 'p-0000a002', 'friend', 'another')"
            )
        )


def test_cli_refuses_the_opted_out_authors_post_and_resolves_stored_ids(store_env, engine):
    from postpulse.cli import app

    r = CliRunner()
    assert (
        r.invoke(
            app, ["accounts", "add", "--platform", "x", "--username", "demo_x", "--timezone", "UTC"]
        ).exit_code
        == 0
    )
    _store_posts(engine)
    _opt_out(engine, "quitter")

    def add(*args):
        return r.invoke(app, ["actions", "add", "--account", "demo_x", *args])

    for args in (
        ["--type", "like", "--target", "p-0000a001"],
        ["--type", "comment", "--target", "p-0000a001", "--text", "nice"],
        ["--type", "like", "--target", "PX1"],  # the platform's id of the same stored post
        ["--type", "reply", "--target", "cmt-0000a001", "--text", "thanks"],
        ["--type", "reply", "--target", "C-Q", "--post", "p-0000a002", "--text", "thanks!"],
    ):
        out = add(*args)
        assert out.exit_code == 1, (args, out.output)
        assert "recorded as rejected" in said(out) and "opted out" in said(out)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, last_reason_code, target_id FROM action_queue")).all()
        audits = conn.execute(
            text("SELECT count(*) FROM audit_entries WHERE event_type = 'policy_block' AND step_id = 'queue'")
        ).scalar()
    assert {(s, c) for s, c, _ in rows} == {("rejected", "opted_out")} and len(rows) == 5 and audits == 5
    # stored ids became the platform's ids
    assert {t for *_, t in rows} == {"PX1", "C-Q"}

    # a stored post by someone else: queued, linked, with the platform's id
    ok = add("--type", "like", "--target", "p-0000a002")
    assert ok.exit_code == 0, ok.output
    aid = ok.output.split()[0]
    row = action_row(engine, aid)
    assert row["target_id"] == "PX2" and row["post_id"] == "p-0000a002" and row["status"] == "queued"
    reply = add("--type", "reply", "--target", "cmt-0000a002", "--text", "thank you")
    assert reply.exit_code == 0, reply.output
    row = action_row(engine, reply.output.split()[0])
    assert row["target_id"] == "C-F" and row["action_params"]["post_id"] == "PX2"

    # what cannot be resolved is refused when queued, nothing recorded
    for args, words in (
        (["--type", "like", "--target", "p-0000ffff"], "no stored post p-0000ffff"),
        (["--type", "like", "--target", "p-0000a003"], "is on instagram"),
        (["--type", "reply", "--target", "cmt-0000ffff", "--text", "x"], "no stored comment"),
    ):
        out = add(*args)
        assert out.exit_code == 1 and words in said(out), (args, said(out))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM action_queue")).scalar() == 7


def test_allowlist_at_queue_time(store_env, engine):
    _store_posts(engine)
    with engine.begin() as conn:
        repo.add_account(
            conn,
            platform="x",
            username="demo_x",
            authorize=True,
            settings={**OPEN_SETTINGS, "allowlist": {"users": ["friend"]}},
        )
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, author_username) VALUES "
                "('p-0000a004', 'x', 'PX4', 'stranger'), ('p-0000a005', 'x', 'PX5', 'tagged')"
            )
        )
        conn.execute(text("INSERT INTO tags (id, name) VALUES ('tag-0000a001', 'customers')"))
        conn.execute(
            text(
                "INSERT INTO post_tags (id, post_id, tag_id) "
                "VALUES ('ptg-0000a001', 'p-0000a005', 'tag-0000a001')"
            )
        )
        ok = repo.add_action(conn, account="demo_x", action_type="like", target_id="p-0000a002")
        refused = repo.add_action(conn, account="demo_x", action_type="like", target_id="p-0000a004")
        assert ok.error is None and ok.action["status"] == "queued"
        assert (
            refused.action["status"] == "rejected" and refused.action["last_reason_code"] == "not_allowlisted"
        )
        assert (
            repo.add_action(conn, account="demo_x", action_type="like", target_id="p-0000a005").error
            is not None
        )
        repo.update_settings(
            conn, repo.get_account(conn, "demo_x")["id"], {"allowlist": {"tags": ["customers"]}}
        )
        assert (
            repo.add_action(conn, account="demo_x", action_type="like", target_id="p-0000a005").error is None
        )


@pytest.mark.browser
def test_executor_reads_unknown_authors_from_the_page(engine, vault, sandbox, browser):
    """Targets the store knows nothing about: the executor reads the author from the page before
    acting, and an opted-out author's post is neither liked, commented on nor replied to."""
    acc = make_account(engine, vault, sandbox, browser)
    now = sandbox.clock.now()
    posts = [p for p in sandbox.world.visible_posts("x", now) if not p.author.startswith("demo")]
    victim = posts[0].author
    theirs = [p for p in posts if p.author == victim][:1]
    others = [p for p in posts if p.author != victim]
    commented = next(
        (p, c)
        for p in others
        for c in sandbox.world.comments_for("x", p.post_id, now)
        if c.author not in (victim, "demo_x") and c.parent_id is None
    )
    post, comment = commented
    _opt_out(engine, victim)
    _opt_out(engine, comment.author)
    # a stored post without an author: the author read from the page is remembered
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO posts (id, platform, platform_post_id) VALUES ('p-0000b001', 'x', :pp)"),
            {"pp": theirs[0].post_id},
        )
    like = queue(engine, vault, acc, "like", "p-0000b001")
    comment_id = queue(engine, vault, acc, "comment", theirs[0].post_id, text_value="great post")
    reply = queue(engine, vault, acc, "reply", comment.comment_id, post_id=post.post_id, text_value="thanks")
    fine = (
        queue(engine, vault, acc, "like", others[-1].post_id) if others[-1].author != comment.author else None
    )
    executor(engine, vault, sandbox, browser).run_until_idle()

    for aid in (like, comment_id, reply):
        row = action_row(engine, aid)
        assert (row["status"], row["last_reason_code"]) == ("rejected", "opted_out"), row
    assert not sandbox.world.has_liked("x", "demo_x", theirs[0].post_id)
    texts = [c.text for c in sandbox.world.comments_for("x", theirs[0].post_id, sandbox.clock.now())]
    assert "great post" not in texts
    assert "thanks" not in [
        c.text for c in sandbox.world.comments_for("x", post.post_id, sandbox.clock.now())
    ]
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT author_username FROM posts WHERE id = 'p-0000b001'")).scalar() == victim
        )
        statuses = (
            conn.execute(
                text("SELECT status FROM action_attempts WHERE action_id = ANY(:a)"),
                {"a": [like, comment_id, reply]},
            )
            .scalars()
            .all()
        )
    assert statuses and set(statuses) == {"skipped"}  # never counted as done or against limits
    if fine:
        assert action_row(engine, fine)["status"] == "completed"


@pytest.mark.browser
def test_executor_allowlist_with_authors_from_the_page(engine, vault, sandbox, browser):
    now = sandbox.clock.now()
    posts = [p for p in sandbox.world.visible_posts("x", now) if not p.author.startswith("demo")]
    friend = posts[0].author
    stranger = next(p for p in posts if p.author != friend)
    acc = make_account(
        engine,
        vault,
        sandbox,
        browser,
        username="demo2_x",
        settings={**OPEN_SETTINGS, "allowlist": {"users": [friend]}},
    )
    ok = queue(engine, vault, acc, "like", posts[0].post_id)
    no = queue(engine, vault, acc, "like", stranger.post_id)
    executor(engine, vault, sandbox, browser).run_until_idle()
    assert action_row(engine, ok)["status"] == "completed"
    row = action_row(engine, no)
    assert (row["status"], row["last_reason_code"]) == ("rejected", "not_allowlisted")
    assert not sandbox.world.has_liked("x", "demo2_x", stranger.post_id)
    assert now_utc()  # the executor ran against the live clock
