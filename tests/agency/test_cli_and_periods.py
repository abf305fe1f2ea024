"""The agency's commands end to end (typer's runner, the real store), account daily statistics
files, report periods in the workspace's time zone, and the tag and account rollups of
daily_metrics."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from postpulse.agency.profile_snapshots import read_daily_stats
from postpulse.analytics import queries
from postpulse.analytics.daily import materialize_daily
from postpulse.analytics.duck import open_analytics
from postpulse.cli import app
from tests.agency.helpers import NOW, load, rows, scalar, world


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_workspace_commands(engine, store_env):
    assert run("workspaces", "add", "acme", "--timezone", "America/New_York").exit_code == 0
    assert (
        run("accounts", "add", "--platform", "x", "--username", "demo_x", "--workspace", "acme").exit_code
        == 0
    )
    r = run("workspaces", "show", "acme")
    assert r.exit_code == 0 and "@demo_x (x)" in r.output and "America/New_York" in r.output
    assert run("workspaces", "rename", "acme", "Acme").exit_code == 0
    assert run("workspaces", "add", "gone").exit_code == 0
    assert run("workspaces", "archive", "gone").exit_code == 0
    r = run("workspaces", "assign", "gone", "demo_x")
    assert r.exit_code == 1 and "archived" in r.output and "Traceback" not in r.output
    r = run("accounts", "add", "--platform", "x", "--username", "other_x", "--workspace", "gone")
    assert r.exit_code == 1 and "archived" in r.output
    assert scalar(engine, "SELECT count(*) FROM accounts") == 1  # the refused account was not added
    r = run("workspaces", "list")
    assert r.exit_code == 0 and "Acme" in r.output and "archived" in r.output
    r = run("workspaces", "add", "bad", "--timezone", "Berlin")
    assert r.exit_code == 1 and "unknown time zone 'Berlin'" in r.output and "Europe/Berlin" in r.output


def test_tag_commands_and_an_unsafe_regex_stores_nothing(engine, store_env, tmp_path):
    w = world()
    load(engine, tmp_path, "x", w)
    r = run("tags", "rule-add", "trail", "--regex", r"(run)\1")
    assert r.exit_code == 1 and "RE2" in r.output and "Traceback" not in r.output
    assert (
        scalar(engine, "SELECT count(*) FROM tags") == 0
        and scalar(engine, "SELECT count(*) FROM tag_rules") == 0
    )
    r = run("tags", "rule-add", "trail", "--hashtag", "#trailrunning", "--platform", "x")
    assert r.exit_code == 0, r.output
    want = {p.post_id for p in w.visible_posts("x", w.now) if "trailrunning" in p.hashtags}
    assert f"+{len(want)} tagged" in r.output
    rule_id = scalar(engine, "SELECT id FROM tag_rules")
    r = run("tags", "rule-edit", rule_id, "--keyword", "marathon")
    assert r.exit_code == 0, r.output
    want2 = {p.post_id for p in w.visible_posts("x", w.now) if "marathon" in p.text.lower()}
    got = {
        x[0]
        for x in rows(engine, "SELECT p.platform_post_id FROM post_tags t JOIN posts p ON p.id = t.post_id")
    }
    assert got == want2
    post = sorted(want2)[0]
    assert run("tags", "add", "favourite").exit_code == 0
    assert run("tags", "assign", "favourite", "--post", f"x:{post}", "--profile", "x:demo_x").exit_code == 0
    r = run("tags", "list")
    assert r.exit_code == 0 and "favourite" in r.output and "trail" in r.output
    r = run("tags", "rules")
    assert r.exit_code == 0 and rule_id in r.output
    assert run("tags", "unassign", "favourite", "--post", f"x:{post}").exit_code == 0
    assert run("tags", "rule-remove", rule_id).exit_code == 0
    assert scalar(engine, "SELECT count(*) FROM post_tags") == 0


def test_account_daily_stats_import(engine, store_env, tmp_path):
    good = tmp_path / "stats.csv"
    good.write_text("Date,Followers,Profile views\n2025-03-01,100,7\n2025-03-02,104,9\n2025-03-03,111,\n")
    r = run("import", "--format", "account_daily_stats", str(good))
    assert r.exit_code == 1 and "no platform and username" in r.output
    r = run("profiles", "stats-import", str(good), "--platform", "instagram", "--username", "@acme")
    assert r.exit_code == 0 and "3 new profile snapshot(s)" in r.output, r.output
    assert rows(engine, "SELECT follower_count, view_count FROM profile_snapshots ORDER BY captured_at") == [
        (100, 7),
        (104, 9),
        (111, None),
    ]
    r = run("profiles", "stats-import", str(good), "--platform", "instagram", "--username", "acme")
    assert r.exit_code == 0 and "already imported" in r.output
    named = tmp_path / "named.json"
    named.write_text(
        '{"platform": "x", "username": "demo_x", "days": [{"date": "2025-03-01", "followers": 5}]}'
    )
    assert run("import", "--format", "account_daily_stats", str(named)).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("date,followers\n2025-03-04,120\n2025-03-05,lots\n")
    r = run("profiles", "stats-import", str(bad), "--platform", "instagram", "--username", "acme")
    assert r.exit_code == 1 and "line 3: field 'followers' is 'lots'" in r.output
    assert scalar(engine, "SELECT count(*) FROM profile_snapshots") == 4  # nothing of bad.csv


def test_daily_stats_reader_errors(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("date,followers\n2025-03-01,1\n2025-03-01,2\n")
    with pytest.raises(Exception, match="2025-03-01 appears twice"):
        read_daily_stats(p, platform="x", username="a")
    p.write_text("date,likes\n2025-03-01,1\n")
    with pytest.raises(Exception, match="no followers, following, posts or views"):
        read_daily_stats(p, platform="x", username="a")


def test_periods_follow_the_workspace_time_zone(engine, store_env, tmp_path):
    # 23:30 UTC on Sunday 2 March is already Monday 3 March in Berlin
    stats = tmp_path / "s.json"
    stats.write_text("[]")
    with engine.begin() as conn:
        from sqlalchemy import text

        from postpulse.agency import workspaces as W
        from postpulse.agency.profile_snapshots import ensure_profile
        from postpulse.engagement import repository as repo

        W.add_workspace(conn, "berlin", timezone="Europe/Berlin")
        acc = repo.add_account(conn, platform="x", username="brand_x")
        W.move_account(conn, acc["id"], "berlin")
        prf = ensure_profile(conn, "x", "brand_x")
        for at, n in (("2025-02-28 12:00+00", 10), ("2025-03-02 12:00+00", 20), ("2025-03-02 23:30+00", 30)):
            conn.execute(
                text(
                    "INSERT INTO profile_snapshots (id, profile_id, captured_at, follower_count, source) "
                    "VALUES (pp_new_id('psn'), :p, CAST(:t AS timestamptz), :n, 'import')"
                ),
                {"p": prf, "t": at, "n": n},
            )
    q = queries.get("follower_growth")
    with open_analytics(store_env) as a:
        daily = q.run(a, {"workspace": "berlin", "period": "day"})
        weekly = q.run(a, {"workspace": "berlin", "period": "week"})
        monthly = q.run(a, {"workspace": "berlin", "period": "month"})
    assert [
        (str(d)[:10], f, g) for d, f, g in daily[["period_start", "followers", "followers_gained"]].values
    ] == [
        ("2025-02-28", 10, 0),
        ("2025-03-02", 20, 10),
        ("2025-03-03", 30, 10),
    ]
    # weeks start on Monday (24 Feb and 3 Mar), in Berlin time
    assert [(str(d)[:10], f) for d, f in weekly[["period_start", "followers"]].values] == [
        ("2025-02-24", 20),
        ("2025-03-03", 30),
    ]
    assert [(str(d)[:10], g) for d, g in monthly[["period_start", "followers_gained"]].values] == [
        ("2025-02-01", 0),
        ("2025-03-01", 20),
    ]
    # no --since: the last 30 days of the data, however long ago that was
    r = run("report", "follower_growth", "--workspace", "berlin", "-f", "csv")
    assert r.exit_code == 0 and "2025-03-03" in r.output


def test_tag_and_account_rollups_in_daily_metrics(engine, store_env, tmp_path):
    w = world()
    assert run("accounts", "add", "--platform", "x", "--username", "demo_x").exit_code == 0
    assert run("tags", "rule-add", "coffee", "--hashtag", "coffee", "--hashtag", "barista").exit_code == 0
    load(engine, tmp_path, "x", w)
    from datetime import timedelta

    load(engine, tmp_path, "x", w, at=NOW + timedelta(hours=20))
    with open_analytics(store_env) as a:
        res = materialize_daily(a, store_env, date(2025, 8, 18), date(2025, 9, 3))
    assert res.rows_by_grain.get("tag", 0) > 0 and res.rows_by_grain.get("account", 0) > 0
    tag_id = scalar(engine, "SELECT id FROM tags WHERE name = 'coffee'")
    assert (
        scalar(engine, "SELECT count(*) FROM daily_metrics WHERE grain = 'tag' AND entity_id = :t", t=tag_id)
        > 0
    )
    r = run("report", "tag_performance", "-f", "csv")
    assert r.exit_code == 0 and "\ncoffee," in r.output
    r = run("report", "tag_performance", "--period", "week", "-f", "csv")
    assert r.exit_code == 0, r.output
    weeks = {line.split(",")[1] for line in r.output.strip().splitlines()[1:]}
    assert weeks and all(date.fromisoformat(w).weekday() == 0 for w in weeks)
