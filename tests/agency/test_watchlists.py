"""Watchlists: sources with budgets, watches on profile URLs, collection through the Apify
connector against a real sandbox server (its Apify-style API), api_usage, the budget pause,
and the Dagster side (dynamic partitions from the CLI, the sensor, a partition's run)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
from typer.testing import CliRunner

from postpulse.agency.errors import AgencyError
from postpulse.cli import app
from postpulse.sandbox.server import SandboxServer
from postpulse.sandbox.world import build_world
from postpulse.watchlists import store as WS
from postpulse.watchlists.collect import collect_watch
from tests.agency.helpers import rows, scalar

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
ACTOR = "clockworks~tiktok-scraper"


@pytest.fixture
def sandbox():
    world = build_world(seed=7, profiles=3, posts_per_profile=4, now=NOW, future_days=0)
    with SandboxServer(world, time_scale=0.0) as srv:
        yield srv


def _source(engine, base_url: str, **kw) -> dict:
    params = {"kind": "apify", "results_per_day": 100, "cost_per_result": 0.01, "actor_id": ACTOR}
    params.update(kw)
    with engine.begin() as conn:
        return WS.add_source(conn, "tiktok-watch", base_url=base_url, **params)


@pytest.mark.parametrize(
    ("url", "platform", "username"),
    [
        ("https://www.instagram.com/nasa/", "instagram", "nasa"),
        ("https://www.tiktok.com/@someone?lang=en", "tiktok", "someone"),
        ("https://twitter.com/jack", "x", "jack"),
        ("https://www.linkedin.com/in/jane-doe/", "linkedin", "jane-doe"),
        ("https://bsky.app/profile/alice.bsky.social", "bluesky", "alice.bsky.social"),
        ("http://127.0.0.1:8765/tiktok/@theoweber", "tiktok", "theoweber"),
        ("x:@demo_x", "x", "demo_x"),
    ],
)
def test_profile_urls(url, platform, username):
    ref = WS.parse_profile(url)
    assert (ref.platform, ref.username) == (platform, username)


def test_unknown_platform_and_zero_budget_are_clear_errors_and_store_nothing(engine):
    with pytest.raises(AgencyError, match="results per day collects nothing"), engine.begin() as conn:
        WS.add_source(conn, "s", kind="apify", results_per_day=0, actor_id=ACTOR)
    with pytest.raises(AgencyError, match="per day collects nothing"), engine.begin() as conn:
        WS.add_source(conn, "s", kind="apify", results_per_day=5, cost_per_day=0, actor_id=ACTOR)
    src = _source(engine, "http://127.0.0.1:1")
    with pytest.raises(AgencyError, match="no known platform at myspace.example"), engine.begin() as conn:
        WS.add_watch(conn, "https://myspace.example/tom", source=src["id"])
    assert scalar(engine, "SELECT count(*) FROM watch_sources") == 1
    assert scalar(engine, "SELECT count(*) FROM watches") == 0
    assert scalar(engine, "SELECT count(*) FROM profiles") == 0
    r = CliRunner().invoke(app, ["watch", "source-add", "zero", "--actor", ACTOR, "--results-per-day", "0"])
    assert r.exit_code == 1 and "collects nothing" in r.output and "Traceback" not in r.output


def test_collect_records_usage_and_pauses_when_the_budget_is_spent(engine, store_env, sandbox):
    src = _source(engine, sandbox.base_url, results_per_day=5)
    with engine.begin() as conn:
        w = WS.add_watch(conn, f"{sandbox.base_url}/tiktok/@noorsato", source=src["name"], role="competitor")
    assert w["key"] == "tiktok:noorsato"
    first = collect_watch(engine, w["key"], now=NOW)
    assert first.status == "collected" and 0 < first.items <= 5  # the actor's limit capped at the budget
    assert scalar(engine, "SELECT count(*) FROM posts WHERE author_username = 'noorsato'") == first.items
    # the profile's counts came with the posts: a profile snapshot
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM profile_snapshots s JOIN profiles p ON p.id = s.profile_id "
            "WHERE p.username = 'noorsato'",
        )
        == 1
    )
    usage = rows(
        engine,
        "SELECT sum(items), sum(estimated_cost), count(*) FROM api_usage WHERE watch_source_id = :s",
        s=src["id"],
    )[0]
    assert usage[0] == first.items and float(usage[1]) == pytest.approx(first.items * 0.01) and usage[2] >= 2
    # spend the rest of the day's budget, then the next collection is paused and stores nothing
    while True:
        res = collect_watch(engine, w["key"], now=NOW)
        if res.status == "paused":
            break
    assert "budget" in res.message and "tiktok-watch" in res.message
    before = scalar(engine, "SELECT count(*) FROM download_runs")
    again = collect_watch(engine, w["key"], now=NOW)
    assert again.status == "paused" and scalar(engine, "SELECT count(*) FROM download_runs") == before
    assert scalar(engine, "SELECT sum(items) FROM api_usage WHERE watch_source_id = :s", s=src["id"]) <= 5
    assert "paused" in scalar(engine, "SELECT last_status FROM watches")


def test_cli_watch_adds_a_dagster_partition_and_the_sensor_collects_it(
    engine, store_env, sandbox, tmp_path, monkeypatch
):
    from orchestration.agency import WATCH_PARTITIONS, watched_profile_collection, watchlist_sensor
    from resources.store import PostgresStore

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")  # a real local instance (SQLite storage in that folder)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    _source(engine, sandbox.base_url)
    r = CliRunner().invoke(app, ["watch", "add", "tiktok:ivovargas", "--source", "tiktok-watch"])
    assert r.exit_code == 0, r.output
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions(WATCH_PARTITIONS) == ["tiktok:ivovargas"]
        resources = {"store": PostgresStore(database_url=store_env)}
        ctx = dg.build_sensor_context(instance=instance, resources=resources)
        result = watchlist_sensor(ctx)
        assert [rr.partition_key for rr in result.run_requests] == ["tiktok:ivovargas"]
        done = dg.materialize(
            [watched_profile_collection],
            partition_key="tiktok:ivovargas",
            instance=instance,
            resources=resources,
        )
        assert done.success
        meta = done.asset_materializations_for_node("watched_profile_collection")[0].metadata
        assert meta["status"].value == "collected" and meta["results"].value > 0
        # collected just now: not due again, so the sensor asks for nothing
        assert not watchlist_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        ).run_requests
    assert scalar(engine, "SELECT count(*) FROM posts WHERE author_username = 'ivovargas'") > 0
    r = CliRunner().invoke(app, ["watch", "remove", "tiktok:ivovargas"])
    assert r.exit_code == 0, r.output
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions(WATCH_PARTITIONS) == []
