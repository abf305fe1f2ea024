"""The console's pages and actions over real HTTP: what each role may do, and what it changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from postpulse.console import queries
from postpulse.engagement import audit
from postpulse.engagement import repository as repo
from postpulse.policy import text_hash
from tests.console.conftest import (
    add_account,
    add_post,
    add_user,
    add_workspace,
    login,
    post,
    queue_comment,
)


def _action(engine, aid):
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM action_queue WHERE id = :i"), {"i": aid}).mappings().one()


def test_approvals_show_context_policy_and_limits(engine, console):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    add_post(engine, acc, "500", "Sunset over the bay", "photographer")
    aid = queue_comment(engine, acc, "500", "Beautiful colours")
    with engine.begin() as conn:  # a blocklisted word makes the policy refuse the other one
        repo.add_blocklist_entry(
            conn, entry_type="keyword", value="casino", match_type="contains", reason="spam"
        )
    add_post(engine, acc, "501", "Big night at the casino", "gambler")
    bad = queue_comment(engine, acc, "501", "Fun!")
    add_user(engine, "appr", "approver", "acme")
    page = login(console.url, "appr").get("/approvals").text
    row = page[page.index(f'id="row-{aid}"') :][:3000]
    assert "Sunset over the bay" in row and "@photographer" in row and "Beautiful colours" in row
    assert "<code>allowed</code>" in row and "1000 / 1000" in row
    bad_row = page[page.index(f'id="row-{bad}"') :][:3000]
    assert "<strong>reject</strong>" in bad_row and "blocklisted_keyword" in bad_row


def test_edit_a_queued_text_is_audited(engine, console):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    aid = queue_comment(engine, acc, "501", "Old text")
    add_user(engine, "appr", "approver", "acme")
    add_user(engine, "vic", "viewer", "acme")
    viewer = login(console.url, "vic")
    assert post(viewer, f"/approvals/{aid}/edit", {"text": "hacked"}).status_code == 403
    client = login(console.url, "appr")
    detail = client.get(f"/approvals/{aid}")
    assert detail.status_code == 200 and "Edit the text" in detail.text
    assert post(client, f"/approvals/{aid}/edit", {"text": "New text"}).status_code == 303
    row = _action(engine, aid)
    assert row["action_params"]["text"] == "New text" and row["text_hash"] == text_hash("New text")
    with engine.connect() as conn:
        steps = conn.execute(
            text("SELECT step_id, details->>'by' FROM audit_entries WHERE action_id = :i ORDER BY step_id"),
            {"i": aid},
        ).all()
    assert ("edit", "console:appr") in steps and ("denied", "vic") in steps


def test_bulk_approve_the_newest_and_keyset_pages(engine, console):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    other = add_account(engine, "other_x", add_workspace(engine, "other"))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for i, acc_id in enumerate([acc] * 60 + [other] * 5):
            conn.execute(
                text(
                    "INSERT INTO action_queue (id, account_id, action_type, target_type, target_id, "
                    "created_at) "
                    "VALUES (:id, :a, 'like', 'post', :t, :at)"
                ),
                {"id": f"act-{i:08x}", "a": acc_id, "t": f"post{i}", "at": now - timedelta(seconds=i)},
            )
    add_user(engine, "appr", "approver", "acme")
    client = login(console.url, "appr")
    first = client.get("/approvals").text
    assert "60 waiting" in first and first.count('name="ids"') == queries.PAGE_SIZE
    older = first[first.index('href="/approvals?after=') :].split('"')[1].replace("&amp;", "&")
    second = client.get(older).text
    assert second.count('name="ids"') == 10 and "act-0000003b" in second and "act-00000000" not in second
    assert post(client, "/approvals/decide", {"decision": "approve_all"}).status_code == 303
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                text("SELECT account_id, array_agg(DISTINCT status) FROM action_queue GROUP BY 1")
            ).all()
        )
        audited = conn.execute(
            text(
                "SELECT count(*) FROM audit_entries WHERE step_id = 'approve' AND details->>'by' = "
                "'console:appr'"
            )
        ).scalar()
    assert statuses == {acc: ["approved"], other: ["queued"]} and audited == 60


def test_admin_edits_account_limits_a_viewer_may_not(engine, console):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE accounts SET frozen_until = now() + interval '2 hours', frozen_reason = 'action "
                "block' "
                "WHERE id = :a"
            ),
            {"a": acc},
        )
    add_user(engine, "root", "admin")
    add_user(engine, "vic", "viewer", "acme")
    viewer = login(console.url, "vic")
    listing = viewer.get("/accounts").text
    assert "frozen until" in listing and "action block" in listing and "What to do" in listing
    assert "postpulse accounts login acme_x" in listing  # no session stored: says how to log in
    page = viewer.get(f"/accounts/{acc}").text
    assert 'name="like_per_day"' not in page
    assert post(viewer, f"/accounts/{acc}", {"what": "lift_freeze"}, page="/accounts").status_code == 403
    admin = login(console.url, "root")
    assert 'name="like_per_day"' in admin.get(f"/accounts/{acc}").text
    r = post(
        admin,
        f"/accounts/{acc}",
        {
            "what": "settings",
            "like_per_hour": "7",
            "like_per_day": "70",
            "quiet_enabled": "1",
            "quiet_start": "22",
            "quiet_end": "6",
        },
        page="/accounts",
    )
    assert r.status_code == 303
    assert post(admin, f"/accounts/{acc}", {"what": "lift_freeze"}, page="/accounts").status_code == 303
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT settings, frozen_until FROM accounts WHERE id = :a"), {"a": acc}
        ).one()
    assert row.settings["rate_limits"]["like"] == {"per_hour": 7, "per_day": 70}
    assert row.settings["quiet_hours"]["start_hour"] == 22 and row.frozen_until is None
    bad = post(
        admin,
        f"/accounts/{acc}",
        {"what": "settings", "like_per_hour": "99999", "like_per_day": "1"},
        page="/accounts",
    )
    assert bad.status_code == 303 and "Not saved" in admin.get(f"/accounts/{acc}").text


def test_reply_to_a_comment_queues_an_action(engine, console):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    pid = add_post(engine, acc, "777", "our post", "acme_x")
    with engine.begin() as conn:
        cid = conn.execute(
            text(
                "INSERT INTO comments (id, platform, platform_comment_id, post_id, author_username, text, "
                "posted_at) "
                "VALUES ('cmt-1', 'x', 'c-777-1', :p, 'fan', 'Love it!', now()) RETURNING id"
            ),
            {"p": pid},
        ).scalar()
    add_user(engine, "ed", "editor", "acme")
    add_user(engine, "vic", "viewer", "acme")
    viewer = login(console.url, "vic")
    assert "Love it!" in viewer.get("/inbox").text and "Queue reply" not in viewer.get("/inbox").text
    assert post(viewer, f"/inbox/comments/{cid}/reply", {"text": "x"}, page="/inbox").status_code == 403
    editor = login(console.url, "ed")
    assert (
        post(editor, f"/inbox/comments/{cid}/reply", {"text": "Thank you!"}, page="/inbox").status_code == 303
    )
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM action_queue WHERE action_type = 'reply'")).mappings().one()
    assert row["target_id"] == "c-777-1" and row["status"] == "queued"
    assert row["action_params"]["text"] == "Thank you!" and row["action_params"]["post_id"] == "777"
    with engine.connect() as conn:
        queued_by = conn.execute(
            text("SELECT details->>'by' FROM audit_entries WHERE step_id = 'queue' AND action_id = :i"),
            {"i": row["id"]},
        ).scalar_one()
    assert queued_by == "console:ed"
    assert post(editor, "/inbox/comments/cmt-999/reply", {"text": "x"}, page="/inbox").status_code == 404


def test_action_history_links_dagster_runs(engine, console):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    aid = queue_comment(engine, acc, "600", "Hello")
    run_id = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    with engine.begin() as conn:
        audit.record(
            conn,
            run_id=run_id,
            step_id="queue",
            event_type="approval",
            outcome="pending",
            action_id=aid,
            details={"by": "dagster-ui"},
        )
    add_user(engine, "appr", "approver", "acme")
    page = login(console.url, "appr").get(f"/approvals/{aid}").text
    assert f'href="http://127.0.0.1:3000/runs/{run_id}"' in page and "dagster-ui" in page
