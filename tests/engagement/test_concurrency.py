"""Several executors at once (4 threads, each its own Chromium and database connections) over
~90 approved actions: each action done exactly once, duplicates rejected, every like visible in
the sandbox, and a per-hour limit that holds across the executors (advisory lock)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from postpulse.engagement.executor import Executor, ExecutorConfig
from tests.engagement.conftest import OPEN_SETTINGS, make_account, posts_of, queue

pytestmark = [pytest.mark.browser]


def _run_executors(engine, vault, base_url, n: int, errors: list) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from postpulse.browser import launch_args

    reports: list[dict] = []
    start = threading.Barrier(n)

    def worker(i: int) -> None:
        try:
            with sync_playwright() as pw:
                b = pw.chromium.launch(**launch_args())
                ex = Executor(
                    engine,
                    vault,
                    browser=b,
                    config=ExecutorConfig(
                        worker_id=f"w{i}", base_url=base_url, batch_size=4, backoff_base=0.05, backoff_max=0.2
                    ),
                )
                start.wait()
                reports.append(ex.run_until_idle())
                b.close()
        except Exception as exc:  # surfaced by the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return reports


def test_four_executors_exactly_once_and_limits(engine, vault, sandbox, browser):
    a = make_account(engine, vault, sandbox, browser, username="demo_x")
    limited = {**OPEN_SETTINGS, "rate_limits": {"like": {"per_hour": 25, "per_day": 100}}}
    b = make_account(engine, vault, sandbox, browser, username="demo2_x", settings=limited)
    posts = posts_of(sandbox, n=40)
    assert len(posts) == 40
    ids_a = [queue(engine, vault, a, "like", p) for p in posts]
    dups = [queue(engine, vault, a, "like", p) for p in posts[:10]]
    ids_b = [queue(engine, vault, b, "like", p) for p in posts]

    errors: list = []
    reports = _run_executors(engine, vault, sandbox.base_url, 4, errors)
    assert not errors, errors
    assert len(reports) == 4 and all(r.get("claimed", 0) > 0 for r in reports), reports  # all four took work

    with engine.connect() as conn:
        per_action = dict(
            conn.execute(
                text(
                    "SELECT action_id, count(*) FILTER (WHERE status = 'success') FROM action_attempts "
                    "GROUP BY action_id"
                )
            ).all()
        )
        status = dict(conn.execute(text("SELECT id, status FROM action_queue")).all())
        reasons = dict(conn.execute(text("SELECT id, last_reason_code FROM action_queue")).all())
        per_target = conn.execute(
            text(
                "SELECT account_id, target_id, count(*) FROM action_attempts WHERE status = 'success' "
                "GROUP BY account_id, target_id HAVING count(*) > 1"
            )
        ).all()
    assert per_target == []
    assert all(v <= 1 for v in per_action.values())
    # account A: every like once, duplicates rejected
    assert all(status[i] == "completed" and per_action[i] == 1 for i in ids_a), [status[i] for i in ids_a]
    assert all(status[i] == "rejected" and reasons[i] == "already_done" for i in dups)
    # account B: the hourly limit of 25 holds across four executors
    done_b = [i for i in ids_b if status[i] == "completed"]
    assert len(done_b) == 25
    assert all(status[i] == "approved" and reasons[i] == "rate_limit_hour" for i in ids_b if i not in done_b)
    # what the platform saw: exactly the completed likes, each visible
    liked_a = {p for p in posts if sandbox.world.has_liked("x", "demo_x", p)}
    liked_b = {p for p in posts if sandbox.world.has_liked("x", "demo2_x", p)}
    assert liked_a == set(posts) and len(liked_b) == 25
    like_events = [e for e in sandbox.world.events if e["action"] == "like"]
    assert len(like_events) == 65  # nothing liked twice on the platform
