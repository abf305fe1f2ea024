"""The Apify connector end to end against the sandbox's Apify-style API (real HTTP)."""

import pytest
from sqlalchemy import text

from postpulse.ingest.apify import ApifyClient, ApifyError, pull_actor
from postpulse.ingest.loader import import_file_as_pull
from postpulse.ingest.sandbox_source import pull_platform
from postpulse.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def sandbox():
    with SandboxServer(seed=5) as sb:
        yield sb


def _client(sb, **kw):
    kw.setdefault("sleep", lambda s: None)
    return ApifyClient("sandbox-token", sb.base_url, poll_interval=0, **kw)


def test_pull_actor_pages_items_and_imports(engine, sandbox, tmp_path):
    with _client(sandbox) as client:
        res = pull_actor(client, "apify~instagram-scraper", {}, tmp_path)
        items = list(client.iter_items(res.run.dataset_id, page_size=4))  # several pages
    assert res.run.status == "SUCCEEDED" and res.items == len(items) > 4
    assert res.path.name.endswith(".jsonl") and "dataset_instagram-scraper_" in res.path.name
    imp = import_file_as_pull(
        engine, res.path, source_kind="apify", platform="instagram", apify_run_id=res.run.id
    )
    assert imp.posts_fetched == res.items and imp.captured_at_source == "filename"
    with engine.connect() as c:
        run = c.execute(text("SELECT source_kind, system_info FROM download_runs")).one()
    assert run.source_kind == "apify" and run.system_info["apify_run_id"] == res.run.id


def test_retries_5xx_and_honours_retry_after(sandbox, tmp_path):
    slept = []
    sandbox.faults.set("server_error", count=2, status=503, path_prefix="/v2/")
    try:
        with _client(sandbox, sleep=slept.append) as client:
            res = pull_actor(client, "apidojo~tweet-scraper", {}, tmp_path)
        assert res.items > 0 and len(slept) >= 2
        sandbox.faults.set("rate_limit", retry_after=7, count=1, path_prefix="/v2/")
        slept.clear()
        with _client(sandbox, sleep=slept.append) as client:
            res = pull_actor(client, "apidojo~tweet-scraper", {}, tmp_path)
        assert 7 in slept and res.items > 0
        assert any(c["status_code"] == 429 for c in client.calls)
    finally:
        sandbox.faults.clear()


def test_gives_up_with_a_clear_error(sandbox, tmp_path):
    sandbox.faults.set("server_error", count=50, status=500, path_prefix="/v2/")
    try:
        with _client(sandbox, max_attempts=3) as client:
            with pytest.raises(ApifyError, match="kept failing after 3 attempts"):
                pull_actor(client, "apidojo~tweet-scraper", {}, tmp_path)
    finally:
        sandbox.faults.clear()


def test_failed_actor_run_and_bad_token(sandbox, tmp_path):
    sandbox.faults.set("actor_failed", count=1)
    try:
        with _client(sandbox) as client:
            with pytest.raises(ApifyError, match="FAILED"):
                pull_actor(client, "apidojo~tweet-scraper", {}, tmp_path)
    finally:
        sandbox.faults.clear()
    with ApifyClient("wrong-secret-token", sandbox.base_url, sleep=lambda s: None) as client:
        with pytest.raises(ApifyError) as exc:
            client.start_run("apidojo~tweet-scraper", {})
    assert "401" in str(exc.value) and "wrong-secret-token" not in str(exc.value)
    assert "wrong-secret-token" not in repr(client)


def test_sandbox_source_pull_tracks_posts(engine, sandbox, tmp_path):
    pulled = pull_platform(engine, "threads", base_url=sandbox.base_url, out_dir=tmp_path)
    assert pulled.items > 0 and pulled.result.posts_new == pulled.items
    with engine.connect() as c:
        n = c.execute(text("SELECT count(*) FROM posts WHERE tracking_started_at IS NOT NULL")).scalar()
        kind = c.execute(text("SELECT source_kind FROM download_runs")).scalar()
    assert n == pulled.items and kind == "sandbox"
    # a second pull of unchanged data is still a new capture: new snapshots, no new posts
    again = pull_platform(engine, "threads", base_url=sandbox.base_url, out_dir=tmp_path)
    assert again.result.posts_new == 0 and again.result.snapshots_new == again.items
