"""The demo as on a fresh `postpulse up`: the demo setup, a real sandbox server pulled through
its Apify-style API, then `postpulse report html --workspace demo` and the follower growth
report through the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from postpulse.agency.demo import HISTORY_DAYS, ensure_demo
from postpulse.cli import app
from postpulse.ingest.sandbox_source import SANDBOX_ACTORS, pull_platform
from postpulse.sandbox.server import SandboxServer
from postpulse.sandbox.world import account_daily_stats, build_world
from tests.agency.helpers import rows, scalar

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _section(html: str, anchor: str) -> str:
    m = re.search(rf'<h2 id="{anchor}">.*?(?=<h2)', html, re.S)
    assert m, anchor
    return m.group(0)


@pytest.fixture
def demo(engine, store_env, tmp_path):
    world = build_world(seed=7, profiles=3, posts_per_profile=3, now=NOW, future_days=0)
    first = ensure_demo(engine, tmp_path, world)
    again = ensure_demo(engine, tmp_path, world)  # `postpulse up` a second time changes nothing
    assert (again.accounts, again.rules, again.snapshots) == (0, 0, 0)
    assert first.accounts == 10 and first.rules > 0 and first.snapshots == 10 * HISTORY_DAYS
    with SandboxServer(world, time_scale=0.0) as srv:
        for platform in SANDBOX_ACTORS:
            pull_platform(engine, platform, base_url=srv.base_url, out_dir=tmp_path / platform)
    return world


def test_demo_world_gives_accounts_tags_and_follower_growth(engine, demo):
    # every post of our accounts is linked to its account in the demo workspace
    assert (
        scalar(engine, "SELECT count(*) FROM posts WHERE author_username LIKE 'demo%' AND account_id IS NULL")
        == 0
    )
    assert (
        scalar(
            engine,
            "SELECT count(DISTINCT p.account_id) FROM posts p JOIN accounts a ON a.id = p.account_id "
            "JOIN workspaces w ON w.id = a.workspace_id WHERE w.name = 'demo'",
        )
        == 10
    )
    tagged = scalar(engine, "SELECT count(*) FROM post_tags WHERE source LIKE 'rule:%'")
    assert tagged > 0
    # the history of each account ends at the world's follower count
    stats = account_daily_stats(demo, "x", "demo_x", HISTORY_DAYS)
    series = rows(
        engine,
        "SELECT s.follower_count FROM profile_snapshots s JOIN profiles p ON p.id = s.profile_id "
        "WHERE p.username = 'demo_x' AND s.source = 'account_daily_stats' ORDER BY s.captured_at",
    )
    assert [r[0] for r in series] == [d["followers"] for d in stats]


def test_report_html_for_the_demo_workspace(demo, tmp_path):
    out = tmp_path / "demo.html"
    r = CliRunner().invoke(app, ["report", "html", "--workspace", "demo", "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    for anchor in ("follower-growth", "top-posts", "tag-performance", "published"):
        section = _section(html, anchor)
        assert "No rows." not in section, anchor
        assert section.count("<tr>") > 1, anchor
    assert "@demo_x (x)" in _section(html, "follower-growth")
    assert "coffee" in _section(html, "tag-performance") or "running" in _section(html, "tag-performance")


def test_follower_growth_report_per_period_and_grouping(demo, store_env):
    runner = CliRunner()
    r = runner.invoke(
        app, ["report", "follower_growth", "--workspace", "demo", "--period", "week", "-f", "csv"]
    )
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("period_start,group,profiles,followers,followers_gained")
    weeks = {line.split(",")[0] for line in lines[1:]}
    assert all(datetime.fromisoformat(w).weekday() == 0 for w in weeks)  # Mondays
    r = runner.invoke(app, ["report", "follower_growth", "-p", "by=workspace", "-f", "csv"])
    assert r.exit_code == 0 and ",demo," in r.output
    r = runner.invoke(app, ["report", "follower_growth", "--period", "year"])
    assert r.exit_code != 0 and "--period 'year' is not one of day, week, month" in r.output
    r = runner.invoke(app, ["report", "post_series", "--period", "week"])
    assert r.exit_code != 0 and "has no period" in r.output
