"""Engagement fixtures: a real sandbox server, a real headless Chromium (one per module), a
vault with a throw-away key, and helpers to create logged-in accounts and queue actions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from postpulse.engagement import repository as repo
from postpulse.engagement.executor import Executor, ExecutorConfig
from postpulse.engagement.sessions import login_account
from postpulse.sandbox.world import password_for

#: settings used by most tests: no quiet hours (tests run at any hour), generous limits
OPEN_SETTINGS = {
    "quiet_hours": None,
    "rate_limits": {
        a: {"per_hour": 200, "per_day": 1000}
        for a in (
            "like",
            "unlike",
            "comment",
            "reply",
            "delete_comment",
            "dm_send",
            "follow",
            "unfollow",
            "publish",
        )
    },
}


@pytest.fixture(scope="module")
def sandbox():
    from postpulse.sandbox.server import SandboxServer

    with SandboxServer(seed=7) as server:
        yield server


@pytest.fixture(autouse=True)
def _clear_faults(request):
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").faults.clear()


def now_utc() -> datetime:
    return datetime.now(UTC)


def make_account(
    engine,
    vault,
    sandbox,
    browser,
    *,
    username="demo_x",
    platform="x",
    settings=None,
    authorize=True,
    login=True,
) -> str:
    with engine.begin() as conn:
        acc = repo.add_account(
            conn,
            platform=platform,
            username=username,
            authorize=authorize,
            settings=OPEN_SETTINGS if settings is None else settings,
        )
    if login:
        login_account(
            engine, vault, acc["id"], password_for(username), base_url=sandbox.base_url, browser=browser
        )
    return acc["id"]


def queue(engine, vault, account, action_type, target=None, *, approve=True, **kw) -> str:
    with engine.begin() as conn:
        res = repo.add_action(
            conn, account=account, action_type=action_type, target_id=target, vault=vault, **kw
        )
        aid = res.action["id"]
        if approve and res.action["status"] == "queued":
            repo.decide(conn, [aid], "approve", actor="test")
    return aid


def executor(engine, vault, sandbox, browser, **cfg) -> Executor:
    cfg.setdefault("backoff_base", 0.05)
    cfg.setdefault("backoff_max", 0.2)
    return Executor(
        engine,
        vault,
        browser=browser,
        config=ExecutorConfig(base_url=sandbox.base_url, **cfg),
        **({} if "now_fn" not in cfg else {}),
    )


def posts_of(sandbox, platform="x", n=10, author=None) -> list[str]:
    now = sandbox.clock.now()
    posts = sandbox.world.visible_posts(platform, now, author)
    return [p.post_id for p in posts if p.author not in ("demo_" + platform, "demo2_" + platform)][:n]


def action_row(engine, action_id) -> dict:
    with engine.connect() as conn:
        return repo.get_action(conn, action_id)
