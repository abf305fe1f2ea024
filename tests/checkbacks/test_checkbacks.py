"""Check-backs: schedules, due batches per platform, the runner against the sandbox."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from postpulse.checkbacks.due import claim_batches, due_platforms, due_posts
from postpulse.checkbacks.fetchers import SandboxFetcher
from postpulse.checkbacks.runner import run_checkbacks
from postpulse.checkbacks.schedule import (
    ScheduleError,
    backoff,
    offsets_seconds,
    parse_schedule,
    resolve_schedule,
    slot_state,
)
from postpulse.ingest.sandbox_source import pull_platform
from postpulse.sandbox.server import SandboxServer

H = 3600


def test_schedule_parsing_and_resolution():
    assert parse_schedule("24h, 1h,7d") == ["1h", "24h", "7d"]
    assert offsets_seconds(["1h", "30m", "2d"]) == [1800, 3600, 172800]
    with pytest.raises(ScheduleError):
        parse_schedule("soon")
    assert resolve_schedule("tiktok") == ["1h", "6h", "24h", "72h", "7d", "30d"]
    assert resolve_schedule("tiktok", None, {"check_schedule": "2h,1d"}) == ["2h", "1d"]
    assert resolve_schedule("tiktok", ["3h"], {"check_schedule": ["2h"]}) == ["3h"]


def test_slot_state_collapses_overdue_slots():
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    offs = offsets_seconds(["1h", "6h", "24h", "72h"])
    st = slot_state(offs, t0, t0 + timedelta(minutes=30))
    assert (st.checks_completed, st.next_check_at) == (0, t0 + timedelta(hours=1))
    # after 2 days of downtime: 1h, 6h and 24h are all done by this one check
    st = slot_state(offs, t0, t0 + timedelta(days=2))
    assert st.checks_completed == 3 and st.next_check_at == t0 + timedelta(hours=72)
    st = slot_state(offs, t0, t0 + timedelta(days=4))
    assert st.complete and st.checks_completed == 4
    assert backoff(1) == timedelta(minutes=5) and backoff(2) == timedelta(minutes=10)
    assert backoff(50) == timedelta(hours=6)


@pytest.fixture(scope="module")
def sandbox():
    with SandboxServer(seed=9) as sb:
        yield sb


@pytest.fixture
def tracked(engine, sandbox, tmp_path):
    for platform in ("x", "tiktok"):
        pull_platform(engine, platform, base_url=sandbox.base_url, out_dir=tmp_path / platform)
    return engine


def test_due_batches_one_per_platform(tracked):
    now = datetime.now(UTC) + timedelta(days=3)
    with tracked.begin() as c:
        assert set(due_platforms(c, now)) == {"x", "tiktok"}
        due_x = due_posts(c, now, platform="x", limit=5)
        assert len(due_x) == 5 and all(p["platform"] == "x" for p in due_x)
        batches = claim_batches(c, now, batch_size=7)
    assert sorted(b.platform for b in batches) == ["tiktok", "x"]
    assert all(len(b.post_ids) == 7 for b in batches)
    keys = {b.run_key for b in batches}
    with tracked.begin() as c:
        # the claimed posts are leased: the next tick hands out other posts
        again = claim_batches(c, now, batch_size=7)
        assert not set(again[0].post_ids) & set(
            next(b for b in batches if b.platform == again[0].platform).post_ids
        )
    assert not keys & {b.run_key for b in again}
    # same batch, same key
    assert (
        batches[0].run_key
        == type(batches[0])(
            batches[0].platform, list(reversed(batches[0].post_ids)), batches[0].oldest_due
        ).run_key
    )


def test_due_query_uses_the_partial_index(tracked):
    with tracked.connect() as c:
        c.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in c.exec_driver_sql(
                "EXPLAIN SELECT id FROM posts WHERE platform = 'x' AND tracking_complete = false "
                "AND next_check_at <= now() ORDER BY next_check_at LIMIT 500"
            ).all()
        )
    assert "idx_posts_due_platform" in plan


def test_runner_snapshots_advances_deletes_and_backs_off(tracked, sandbox):
    engine = tracked
    with engine.connect() as c:
        posts = c.execute(
            text(
                "SELECT id, platform_post_id, posted_at, checks_completed FROM posts "
                "WHERE platform = 'x' AND NOT tracking_complete ORDER BY posted_at DESC"
            )
        ).all()
    now = sandbox.clock.now() + timedelta(hours=2)
    ids = [p.id for p in posts]
    # one deleted on the platform, one failing with a server error
    gone = posts[0]
    sandbox.world.delete_post("x", gone.platform_post_id)
    fetcher = SandboxFetcher(sandbox.base_url)
    try:
        res = run_checkbacks(engine, ids, fetcher, now=now, max_concurrency=4)
        assert res.run_id and res.deleted == 1 and res.checked == len(ids) - 1 and res.failed == 0
        assert res.snapshots_new == len(ids) - 1
        with engine.connect() as c:
            run = c.execute(
                text("SELECT source_kind, status, captured_at_source FROM download_runs WHERE id = :r"),
                {"r": res.run_id},
            ).one()
            assert tuple(run) == ("checkback", "completed", "fetch_time")
            g = c.execute(
                text("SELECT is_deleted, tracking_complete, next_check_at FROM posts WHERE id = :i"),
                {"i": gone.id},
            ).one()
            assert g.is_deleted and g.tracking_complete and g.next_check_at is None
            assert (
                c.execute(
                    text("SELECT count(*) FROM data_downloads WHERE post_id = :i"), {"i": gone.id}
                ).scalar()
                >= 1
            )
            rows = c.execute(
                text(
                    "SELECT next_check_at, checks_completed, tracking_complete, posted_at FROM posts "
                    "WHERE id = ANY(:i) AND NOT is_deleted"
                ),
                {"i": ids},
            ).all()
            assert len(rows) == len(ids) - 1
            for r in rows:
                st = slot_state(offsets_seconds(resolve_schedule("x")), r.posted_at, now)
                assert (r.checks_completed, r.next_check_at, r.tracking_complete) == (
                    st.checks_completed,
                    st.next_check_at,
                    st.complete,
                )
        # a failing platform: nothing lost, failures counted, backoff
        sandbox.faults.set("server_error", count=1000, status=502, path_prefix="/api/")
        later = now + timedelta(days=40)
        alive = [i for i in ids if i != gone.id]
        with engine.begin() as c:
            c.execute(text("UPDATE posts SET tracking_complete = false WHERE id = ANY(:i)"), {"i": alive})
        res2 = run_checkbacks(engine, alive, fetcher, now=later)
        assert res2.failed == len(alive) and res2.snapshots_new == 0
        with engine.connect() as c:
            r = c.execute(
                text(
                    "SELECT check_failures, next_check_at, last_check_error, tracking_complete FROM posts "
                    "WHERE id = :i"
                ),
                {"i": alive[0]},
            ).one()
            assert r.check_failures == 1 and r.next_check_at == later + timedelta(minutes=5)
            assert "502" in r.last_check_error and not r.tracking_complete
            err = c.execute(
                text("SELECT error_message FROM download_runs WHERE id = :r"), {"r": res2.run_id}
            ).scalar()
            assert "failed" in err
        sandbox.faults.clear()
        # after the outage: one check collapses every overdue slot and completes tracking
        res3 = run_checkbacks(engine, alive, fetcher, now=later)
        assert res3.checked == len(alive) and res3.completed_tracking == len(alive)
        with engine.connect() as c:
            assert c.execute(
                text(
                    "SELECT count(*) FROM posts WHERE id = ANY(:i) AND tracking_complete "
                    "AND check_failures = 0 AND next_check_at IS NULL"
                ),
                {"i": alive},
            ).scalar() == len(alive)
    finally:
        sandbox.faults.clear()
        sandbox.world.restore_post("x", gone.platform_post_id)
        fetcher.close()


def test_posts_outside_the_sandbox_fail_softly(engine, real_fixtures, sandbox):
    from postpulse.ingest.loader import import_file

    f = next(real_fixtures.glob("lowerzedo__social_apis/*.json"))
    import_file(engine, f, track=True)
    with engine.begin() as c:
        ids = (
            c.execute(text("UPDATE posts SET tracking_complete = false, next_check_at = now() RETURNING id"))
            .scalars()
            .all()
        )
    fetcher = SandboxFetcher(sandbox.base_url)
    res = run_checkbacks(engine, ids, fetcher)
    fetcher.close()
    assert res.failed == len(ids) and res.deleted == 0
    assert "no client" in res.errors[0]


def test_account_and_post_schedules_override_the_platform_default(tracked, sandbox):
    """Account settings.check_schedule beats the platform default; a post's own schedule beats both."""
    engine = tracked
    with engine.begin() as c:
        posts = c.execute(
            text(
                "SELECT id, posted_at FROM posts WHERE platform = 'x' AND NOT tracking_complete "
                "ORDER BY id LIMIT 3"
            )
        ).all()
        c.execute(
            text(
                "INSERT INTO accounts (id, platform, platform_user_id, username, settings) "
                "VALUES ('acc-0000cafe', 'x', '1', 'demo_x', CAST(:s AS jsonb))"
            ),
            {"s": '{"check_schedule": "2h,3d,60d"}'},
        )
        c.execute(
            text("UPDATE posts SET account_id = 'acc-0000cafe' WHERE id = ANY(:i)"),
            {"i": [p.id for p in posts]},
        )
        c.execute(text("UPDATE posts SET check_schedule = '[\"90d\"]' WHERE id = :i"), {"i": posts[2].id})
    anchor = max(p.posted_at for p in posts)
    now = anchor + timedelta(
        days=40
    )  # past every default x slot (the last is 7d): only overrides keep tracking
    fetcher = SandboxFetcher(sandbox.base_url)
    try:
        res = run_checkbacks(engine, [p.id for p in posts], fetcher, now=now)
    finally:
        fetcher.close()
    assert res.checked == 3 and res.completed_tracking == 0
    with engine.connect() as c:
        got = {
            r.id: r
            for r in c.execute(
                text(
                    "SELECT id, posted_at, next_check_at, checks_completed, "
                    "tracking_complete FROM posts WHERE id = ANY(:i)"
                ),
                {"i": [p.id for p in posts]},
            )
        }
    for p in posts[:2]:  # the account's 2h, 3d, 60d: two slots done, the next at 60 days
        r = got[p.id]
        assert (r.checks_completed, r.next_check_at, r.tracking_complete) == (
            2,
            r.posted_at + timedelta(days=60),
            False,
        )
    r = got[posts[2].id]  # its own 90d
    assert (r.checks_completed, r.next_check_at, r.tracking_complete) == (
        0,
        r.posted_at + timedelta(days=90),
        False,
    )


def test_posts_outside_the_sandbox_are_checked_through_apify(tracked, sandbox):
    """Posts with real-site URLs (as Apify exports have them) go to the platform's actor, one run
    for the batch; a post the actor does not return fails softly (not "deleted")."""
    from postpulse.checkbacks.apify_fetcher import ApifyFetcher, RoutingFetcher
    from postpulse.ingest.apify import ApifyClient
    from postpulse.ingest.sandbox_source import DEFAULT_SANDBOX_TOKEN

    engine = tracked
    with engine.begin() as c:
        rows = c.execute(
            text(
                "SELECT id, platform_post_id, author_username FROM posts WHERE platform = 'x' "
                "AND NOT tracking_complete AND NOT is_deleted ORDER BY posted_at DESC LIMIT 6"
            )
        ).all()
        for r in rows:
            c.execute(
                text("UPDATE posts SET url = :u WHERE id = :i"),
                {"u": f"https://x.com/{r.author_username}/status/{r.platform_post_id}", "i": r.id},
            )
    ids = [r.id for r in rows]
    gone = rows[0]
    sandbox.world.delete_post("x", gone.platform_post_id)
    now = sandbox.clock.now() + timedelta(hours=2)
    client = ApifyClient(DEFAULT_SANDBOX_TOKEN, sandbox.base_url, poll_interval=0.01)
    fetcher = RoutingFetcher(SandboxFetcher(sandbox.base_url), ApifyFetcher(client))
    # counts grow with sandbox time: hold it still so the stored snapshot and the re-read agree
    scale = sandbox.clock.time_scale
    sandbox.clock.freeze()
    try:
        res = run_checkbacks(engine, ids, fetcher, now=now)
        assert (res.checked, res.failed, res.deleted, res.snapshots_new) == (len(ids) - 1, 1, 0, len(ids) - 1)
        assert "returned no item" in res.errors[0] and gone.id in res.errors[0]
        assert sum(1 for call in client.calls if call["endpoint"] == "start run") == 1
        with engine.connect() as c:
            snap = c.execute(
                text(
                    "SELECT d.like_count, d.view_count FROM data_downloads d WHERE d.run_id = :r "
                    "AND d.post_id = :p"
                ),
                {"r": res.run_id, "p": rows[1].id},
            ).one()
            g = c.execute(
                text("SELECT is_deleted, check_failures FROM posts WHERE id = :i"), {"i": gone.id}
            ).one()
        item = (
            SandboxFetcher(sandbox.base_url, serve_all=True).fetch("x", rows[1].platform_post_id, None).item
        )
        assert (snap.like_count, snap.view_count) == (item["likeCount"], item["viewCount"])
        assert not g.is_deleted and g.check_failures == 1
        # without a token those posts cannot be fetched: the message says what to set
        with engine.begin() as c:  # (the check-back stored the URL the actor gave; back to the real-site one)
            c.execute(
                text("UPDATE posts SET url = :u WHERE id = :i"),
                {
                    "u": f"https://x.com/{rows[1].author_username}/status/{rows[1].platform_post_id}",
                    "i": rows[1].id,
                },
            )
        no_apify = RoutingFetcher(SandboxFetcher(sandbox.base_url), None)
        res2 = run_checkbacks(engine, ids[1:2], no_apify, now=now + timedelta(days=2))
        assert res2.failed == 1 and "APIFY_TOKEN" in res2.errors[0]
    finally:
        sandbox.clock.time_scale = scale
        sandbox.world.restore_post("x", gone.platform_post_id)
        fetcher.close()


def test_apify_fetcher_says_why_it_cannot_fetch(sandbox):
    from postpulse.checkbacks.apify_fetcher import ApifyFetcher
    from postpulse.ingest.apify import ApifyClient

    client = ApifyClient("wrong-token", sandbox.base_url, poll_interval=0.01, max_attempts=1)
    f = ApifyFetcher(client)
    res = f.fetch_many(
        [
            {"platform": "x", "platform_post_id": "1", "url": None},
            {"platform": "myspace", "platform_post_id": "2", "url": "https://myspace.com/p/2"},
            {"platform": "x", "platform_post_id": "3", "url": "https://x.com/a/status/3"},
        ]
    )
    assert [r.status for r in res] == ["error"] * 3
    assert "no URL" in res[0].error and "no Apify actor for myspace" in res[1].error
    assert (
        res[2].error.startswith("Apify: ") and "wrong-token" not in res[2].error
    )  # the actor call was refused
    client.close()
