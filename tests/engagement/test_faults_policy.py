"""Bad input and platform faults: changed markup, 429, 5xx, action blocked, expired session,
quiet hours, rate limits, unauthorized accounts, regex bombs, templates, unknown DM threads."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from postpulse.engagement import repository as repo
from postpulse.engagement.executor import Executor, ExecutorConfig
from tests.engagement.conftest import OPEN_SETTINGS, action_row, executor, make_account, posts_of, queue

pytestmark = pytest.mark.browser


def _attempt(engine, action_id):
    with engine.connect() as conn:
        return (
            conn.execute(
                text("SELECT * FROM action_attempts WHERE action_id = :i ORDER BY attempted_at DESC LIMIT 1"),
                {"i": action_id},
            )
            .mappings()
            .first()
        )


def _audit(engine, event):
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text("SELECT * FROM audit_entries WHERE event_type = :e"), {"e": event}
            ).mappings()
        ]


def test_changed_markup_is_its_own_failure(engine, vault, sandbox, browser, tmp_path):
    acc = make_account(engine, vault, sandbox, browser)
    aid = queue(engine, vault, acc, "like", posts_of(sandbox)[2])
    sandbox.faults.set("changed_markup")
    ex = executor(engine, vault, sandbox, browser, screenshot_dir=str(tmp_path))
    ex.run_batch()
    row, att = action_row(engine, aid), _attempt(engine, aid)
    assert row["status"] == "failed" and row["last_reason_code"] == "markup_changed"
    assert att["error_code"] == "markup_changed" and "like_button" in att["error"]["message"]
    assert att["screenshot_path"] and (tmp_path / f"{att['id']}.png").is_file()


def test_429_retried_then_succeeds(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    pid = posts_of(sandbox)[3]
    aid = queue(engine, vault, acc, "like", pid)
    sandbox.faults.set("rate_limit", count=2, retry_after=0)
    executor(engine, vault, sandbox, browser).run_batch()
    assert action_row(engine, aid)["status"] == "completed"
    assert sandbox.world.has_liked("x", "demo_x", pid)


def test_repeated_429_freezes_the_account(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    a1 = queue(engine, vault, acc, "like", posts_of(sandbox)[4])
    a2 = queue(engine, vault, acc, "like", posts_of(sandbox)[5])
    sandbox.faults.set("rate_limit", retry_after=0)
    executor(engine, vault, sandbox, browser).run_batch()
    sandbox.faults.clear()
    with engine.connect() as conn:
        frozen = conn.execute(text("SELECT frozen_until FROM accounts WHERE id = :a"), {"a": acc}).scalar()
    assert frozen is not None and frozen > datetime.now(UTC) + timedelta(hours=12)
    for aid in (a1, a2):
        row = action_row(engine, aid)
        assert row["status"] == "approved" and row["scheduled_for"] >= frozen - timedelta(seconds=1)
    assert _attempt(engine, a1)["error_code"] == "rate_limited"
    assert _attempt(engine, a2)["status"] == "skipped"
    assert _audit(engine, "block_signal")
    # the policy now defers the account's actions until the freeze ends
    with engine.begin() as conn:
        conn.execute(text("UPDATE action_queue SET scheduled_for = NULL"))
    rep = executor(engine, vault, sandbox, browser).run_batch()
    assert rep["claimed"] == 0 and {d["reason_code"] for d in rep["decisions"]} == {"account_frozen"}


def test_5xx_retried_then_deferred(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    aid = queue(engine, vault, acc, "like", posts_of(sandbox)[6])
    sandbox.faults.set("server_error", count=50, status=503)
    executor(engine, vault, sandbox, browser).run_batch()
    sandbox.faults.clear()
    row, att = action_row(engine, aid), _attempt(engine, aid)
    assert row["status"] == "approved" and row["last_reason_code"] == "server_error"
    assert row["scheduled_for"] > datetime.now(UTC)
    assert att["status"] == "failed" and att["error"]["status_codes"] == [503, 503, 503]
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT frozen_until FROM accounts WHERE id = :a"), {"a": acc}).scalar() is None
        )


def test_action_blocked_freezes(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    pid = posts_of(sandbox)[7]
    a1 = queue(engine, vault, acc, "like", pid)
    a2 = queue(engine, vault, acc, "like", posts_of(sandbox)[8])
    sandbox.faults.set("action_blocked", actions=["like"])
    executor(engine, vault, sandbox, browser).run_batch()
    assert not sandbox.world.has_liked("x", "demo_x", pid)
    assert _attempt(engine, a1)["error_code"] == "action_blocked"
    assert action_row(engine, a1)["status"] == action_row(engine, a2)["status"] == "approved"
    (sig,) = _audit(engine, "block_signal")
    assert sig["details"]["signal"] == "action_blocked" and sig["account_id"] == acc


def test_expired_session_flags_relogin(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser)
    aid = queue(engine, vault, acc, "like", posts_of(sandbox)[9])
    sandbox.faults.set("expired_sessions")
    executor(engine, vault, sandbox, browser).run_batch()
    sandbox.faults.clear()
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT needs_relogin FROM accounts WHERE id = :a"), {"a": acc}).scalar()
            is True
        )
    row = action_row(engine, aid)
    assert row["status"] == "approved" and row["last_reason_code"] == "session_expired"
    assert any(a["details"].get("reason_code") == "session_expired" for a in _audit(engine, "session_end"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE action_queue SET scheduled_for = NULL"))
    rep = executor(engine, vault, sandbox, browser).run_batch()
    assert [d["reason_code"] for d in rep["decisions"]] == ["needs_relogin"]


def test_unauthorized_account_is_rejected(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser, authorize=False, login=False)
    aid = queue(engine, vault, acc, "like", posts_of(sandbox)[0])
    rep = Executor(engine, vault, config=ExecutorConfig()).run_batch()
    assert rep["claimed"] == 0
    row = action_row(engine, aid)
    assert row["status"] == "rejected" and row["last_reason_code"] == "account_not_authorized"
    assert _audit(engine, "policy_block")[0]["details"]["reason_code"] == "account_not_authorized"


def test_quiet_hours_defer(engine, vault, sandbox, browser):
    settings = {
        **OPEN_SETTINGS,
        "quiet_hours": {"enabled": True, "start_hour": 22, "end_hour": 7, "timezone": "Europe/Berlin"},
    }
    acc = make_account(engine, vault, sandbox, browser, settings=settings, login=False)
    aid = queue(engine, vault, acc, "like", posts_of(sandbox)[0])
    night = datetime(2030, 1, 15, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    rep = Executor(engine, vault, config=ExecutorConfig(), now_fn=lambda: night).run_batch()
    assert rep["claimed"] == 0
    row = action_row(engine, aid)
    assert row["status"] == "approved" and row["last_reason_code"] == "quiet_hours"
    assert row["scheduled_for"] == datetime(2030, 1, 16, 6, 0, tzinfo=UTC)  # 07:00 Berlin
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM action_attempts")).scalar() == 0


def test_rate_limit_holds(engine, vault, sandbox, browser):
    settings = {**OPEN_SETTINGS, "rate_limits": {"like": {"per_hour": 2, "per_day": 10}}}
    acc = make_account(engine, vault, sandbox, browser, settings=settings)
    ids = [queue(engine, vault, acc, "like", pid) for pid in posts_of(sandbox, n=14)[10:14]]
    rep = executor(engine, vault, sandbox, browser).run_batch()
    assert rep["completed"] == 2 and rep["denied"] == 2
    rows = [action_row(engine, i) for i in ids]
    assert sorted(r["status"] for r in rows) == ["approved", "approved", "completed", "completed"]
    deferred = [r for r in rows if r["status"] == "approved"]
    assert all(
        r["last_reason_code"] == "rate_limit_hour" and r["scheduled_for"] > datetime.now(UTC)
        for r in deferred
    )
    assert len(_audit(engine, "rate_limit_hit")) == 2


def test_regex_bomb_in_blocklist(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser, login=False)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO blocklist_entries (id, entry_type, value, match_type, reason, added_by) VALUES "
                "('blk-00000001', 'keyword', '(a+)+$', 'regex', 'bomb', 'user'), "
                "('blk-00000002', 'keyword', '(?=lookahead)x', 'regex', 'unsupported by RE2', 'user'), "
                "('blk-00000003', 'keyword', '(x+x+)+y', 'regex', 'bomb 2', 'user')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, text_content) VALUES "
                "('p-00000001', 'x', 'bomb1', :t), ('p-00000002', 'x', 'bomb2', :u)"
            ),
            {"t": "a" * 5000 + "!", "u": "x" * 5000},
        )
    a1 = queue(engine, vault, acc, "like", "bomb1")
    a2 = queue(engine, vault, acc, "like", "bomb2")
    ex = Executor(engine, vault, config=ExecutorConfig())
    t0 = time.perf_counter()
    preview = {d["action_id"]: d for d in ex.preview()}
    assert time.perf_counter() - t0 < 2.0
    assert preview[a1]["outcome"] == "allow"  # the bomb does not match "aaaa...!" and takes microseconds
    assert preview[a2]["outcome"] == "allow"
    with engine.begin() as conn:
        conn.execute(text("UPDATE posts SET text_content = :t WHERE id = 'p-00000001'"), {"t": "a" * 5000})
    preview = {d["action_id"]: d for d in ex.preview()}
    assert preview[a1]["outcome"] == "reject" and preview[a1]["reason_code"] == "blocklisted_keyword"
    assert any("lookahead" in e for e in ex.blocklists.errors)


def test_template_missing_variable(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser, login=False)
    with engine.begin() as conn:
        repo.add_template(
            conn,
            name="thanks",
            template_type="comment",
            content="Thanks {{ first_name }}, great {{ topic }}!",
        )
        ok = repo.add_action(
            conn,
            account=acc,
            action_type="comment",
            target_id="123",
            template="thanks",
            variables={"first_name": "Ana", "topic": "shot"},
        )
        bad = repo.add_action(
            conn,
            account=acc,
            action_type="comment",
            target_id="124",
            template="thanks",
            variables={"first_name": "Ana"},
        )
    assert ok.error is None and ok.action["action_params"]["text"] == "Thanks Ana, great shot!"
    assert bad.action["status"] == "rejected" and bad.action["last_reason_code"] == "template_error"
    assert "'topic'" in bad.error and "'topic'" in bad.action["last_error"]
    assert any(a["details"]["reason_code"] == "template_error" for a in _audit(engine, "policy_block"))


def test_dm_for_unknown_thread(engine, vault, sandbox, browser):
    acc = make_account(engine, vault, sandbox, browser, login=False)
    with engine.begin() as conn:
        with pytest.raises(repo.NotFound, match="unknown DM thread dmt-0000dead"):
            repo.add_action(
                conn,
                account=acc,
                action_type="dm_send",
                target_id="dmt-0000dead",
                target_type="dm_thread",
                text_value="hello",
                vault=vault,
            )
        # a DM queued to a thread that disappeared afterwards is rejected when it comes up
        conn.execute(
            text(
                "INSERT INTO dm_threads (id, platform, platform_thread_id, account_id, participant_username) "
                "VALUES ('dmt-00000001', 'x', 't1', :a, 'someone')"
            ),
            {"a": acc},
        )
        res = repo.add_action(
            conn,
            account=acc,
            action_type="dm_send",
            target_id="dmt-00000001",
            target_type="dm_thread",
            text_value="hello",
            vault=vault,
        )
        repo.decide(conn, [res.action["id"]], "approve")
        conn.execute(text("DELETE FROM dm_threads"))
    rep = Executor(engine, vault, config=ExecutorConfig()).run_batch()
    row = action_row(engine, res.action["id"])
    assert rep["claimed"] == 0 and row["status"] == "rejected" and row["last_reason_code"] == "unknown_thread"


def test_auto_approve_by_type(engine, vault, sandbox, browser):
    settings = {**OPEN_SETTINGS, "auto_approve": {"like": True}}
    acc = make_account(engine, vault, sandbox, browser, settings=settings, login=False)
    with engine.begin() as conn:
        like = repo.add_action(conn, account=acc, action_type="like", target_id="1").action
        follow = repo.add_action(conn, account=acc, action_type="follow", target_id="someone").action
    assert like["status"] == "approved" and like["approved_by"] == "auto-approve"
    assert follow["status"] == "queued"


def test_like_that_does_not_stick_freezes(engine, vault, sandbox, browser):
    """The platform silently undoes a like (as the job's separate execute and verify ops would see
    it): verification after reload fails, the account is frozen, the action waits, nothing retries."""
    acc = make_account(engine, vault, sandbox, browser)
    pid, other = posts_of(sandbox, n=40)[33:35]
    a1, a2 = queue(engine, vault, acc, "like", pid), queue(engine, vault, acc, "like", other)
    ex = executor(engine, vault, sandbox, browser)
    claim = ex.claim()
    first = [t for t in claim.tasks if t.action_id == a1]
    results = ex.execute(first, verify=False)
    assert results[0].ok and sandbox.world.has_liked("x", "demo_x", pid)
    sandbox.world.unlike("x", "demo_x", pid, sandbox.clock.now())  # the platform took it back
    ex.verify(results)
    assert results[0].verification.verified is False and results[0].verification.confidence == 1.0
    ex.record(results + ex.execute([t for t in claim.tasks if t.action_id == a2], verify=True))
    att = _attempt(engine, a1)
    assert att["status"] == "failed" and att["error_code"] == "not_persisted"
    (sig,) = _audit(engine, "block_signal")
    assert sig["details"]["signal"] == "not_persisted" and sig["account_id"] == acc
    with engine.connect() as conn:
        frozen = conn.execute(text("SELECT frozen_until FROM accounts WHERE id = :a"), {"a": acc}).scalar()
    assert frozen > datetime.now(UTC) + timedelta(hours=12)
    row = action_row(engine, a1)
    assert row["status"] == "approved" and row["scheduled_for"] >= frozen - timedelta(seconds=1)
    # the account's next action is held back by the policy until the cool-down ends
    with engine.begin() as conn:
        conn.execute(text("UPDATE action_queue SET scheduled_for = NULL WHERE id = :i"), {"i": a1})
    rep = executor(engine, vault, sandbox, browser).run_batch()
    assert rep["claimed"] == 0 and {d["reason_code"] for d in rep["decisions"]} == {"account_frozen"}


def test_record_when_another_attempt_already_succeeded(engine, vault, sandbox, browser):
    """The record step's safety net: if a success on the same target landed meanwhile (the unique
    index refuses a second), our attempt becomes skipped/already_done, the action completes, and an
    earlier opposite action (unlike) is still superseded."""
    from postpulse.engagement.drivers.base import ExecResult, Verification

    acc = make_account(engine, vault, sandbox, browser, login=False)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO action_attempts (id, run_id, platform, action_type, account_id, target_type, "
                "target_id, status, attempted_at) VALUES ('att-0000aaa1', 'r', 'x', 'unlike', :a, 'post', "
                "'T1', "
                "'success', now())"
            ),
            {"a": acc},
        )
    aid = queue(engine, vault, acc, "like", "T1")
    ex = Executor(engine, vault, config=ExecutorConfig())
    (task,) = ex.claim().tasks
    with engine.begin() as conn:  # another executor's like on the same target succeeded meanwhile
        conn.execute(
            text(
                "INSERT INTO action_attempts (id, run_id, platform, action_type, account_id, target_type, "
                "target_id, status, attempted_at) VALUES ('att-0000aaa2', 'r', 'x', 'like', :a, 'post', "
                "'T1', "
                "'success', now())"
            ),
            {"a": acc},
        )
    ok = Verification("reload_verify", True, 1.0, {})
    assert ex.record([ExecResult(task, True, verification=ok)]) == {"completed": 1}
    att = _attempt(engine, aid)
    assert att["status"] == "skipped" and att["error_code"] == "already_done" and att["verification_id"]
    assert action_row(engine, aid)["status"] == "completed"
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT superseded_at FROM action_attempts WHERE id = 'att-0000aaa1'")).scalar()
            is not None
        )


def test_verification_rows_survive_an_id_collision(engine, vault, sandbox, browser, monkeypatch):
    """dom_state_check and reload_verify are written in one statement; an id that is already taken
    is retried under a fresh id: no verification is lost, the attempt points at reload_verify."""
    import postpulse.ids as ids
    from postpulse.engagement.drivers.base import ExecResult, Verification

    acc = make_account(engine, vault, sandbox, browser, login=False)
    aid = queue(engine, vault, acc, "like", "T2")
    ex = Executor(engine, vault, config=ExecutorConfig())
    (task,) = ex.claim().tasks
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO verification_results (id, action_attempt_id, verified, confidence, method, "
                "duration_ms) "
                "VALUES ('ver-0000beef', :att, false, 0, 'manual', 0)"
            ),
            {"att": task.attempt_id},
        )
    real_new_id, taken = ids.new_id, iter(["ver-0000beef"])
    monkeypatch.setattr(
        ids, "new_id", lambda prefix, digits=None: next(taken, None) or real_new_id(prefix, digits)
    )
    res = ExecResult(
        task,
        True,
        checks=[Verification("dom_state_check", True, 0.8, {"k": 1})],
        verification=Verification("reload_verify", True, 1.0, {"k": 2}),
    )
    assert ex.record([res]) == {"completed": 1}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, method, confidence FROM verification_results WHERE action_attempt_id = :a "
                "AND method <> 'manual' ORDER BY method"
            ),
            {"a": task.attempt_id},
        ).all()
        ver_id = conn.execute(
            text("SELECT verification_id FROM action_attempts WHERE id = :a"), {"a": task.attempt_id}
        ).scalar()
    assert [(r[1], r[2]) for r in rows] == [("dom_state_check", 0.8), ("reload_verify", 1.0)]
    assert "ver-0000beef" not in {r[0] for r in rows}
    assert ver_id == next(r[0] for r in rows if r[1] == "reload_verify")
    assert action_row(engine, aid)["status"] == "completed"


def test_dry_run_decides_as_the_run_for_a_post_blocked_by_its_platform_id(engine, vault, sandbox, browser):
    """The action is queued by our id (resolved to the platform's); the blocklist entry, added
    after it was queued, names the post by the platform's id. The dry run and the run build the
    policy request the same way (one builder), so both block it."""
    acc = make_account(engine, vault, sandbox, browser, login=False)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, text_content) VALUES "
                "('p-00000009', 'x', 'blocked42', 'hello')"
            )
        )
    aid = queue(engine, vault, acc, "like", "p-00000009")
    assert action_row(engine, aid)["target_id"] == "blocked42"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO blocklist_entries (id, entry_type, value, match_type, reason, added_by) VALUES "
                "('blk-00000009', 'post', 'blocked42', 'exact', 'not this one', 'user')"
            )
        )
    ex = Executor(engine, vault, config=ExecutorConfig())
    preview = {d["action_id"]: d for d in ex.preview()}
    assert preview[aid]["outcome"] == "reject" and preview[aid]["reason_code"] == "blocklisted_post"
    report = ex.claim()
    assert not report.tasks
    row = action_row(engine, aid)
    assert row["status"] == "rejected" and row["last_reason_code"] == preview[aid]["reason_code"]
