"""``postpulse track / untrack / tracking`` and ``postpulse import`` through the real CLI app."""

from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.cli import app
from postpulse.sandbox.server import SandboxServer
from tests.ingest.helpers import T0, apify_name, scraper_items, write_json

runner = CliRunner()


def test_import_cli_summary_reimport_and_bad_file(store_env, engine, tmp_path):
    d = tmp_path / "exports"
    d.mkdir()
    write_json(d / apify_name("tweet-scraper", T0), scraper_items("x"))
    write_json(d / apify_name("instagram-scraper", T0), scraper_items("instagram"))
    r = runner.invoke(app, ["import", str(d)])
    assert r.exit_code == 0, r.output
    assert "postpulse import" in r.output and "run-" in r.output
    r = runner.invoke(app, ["import", str(d / apify_name("tweet-scraper", T0))])
    assert r.exit_code == 0 and "already imported" in r.output
    bad = tmp_path / "broken.json"
    bad.write_text('[{"id": 1,')
    r = runner.invoke(app, ["import", str(bad)])
    assert r.exit_code == 1
    assert "broken.json" in r.output
    r = runner.invoke(app, ["import", str(d / "x.json"), "--captured-at", "yesterday"])
    assert r.exit_code == 1


def test_track_untrack_tracking(store_env, engine, tmp_path, monkeypatch):
    with SandboxServer(seed=4) as sb:
        monkeypatch.setenv("POSTPULSE_SANDBOX_URL", sb.base_url)
        item = scraper_items("instagram")[0]
        # a sandbox post not yet in the store: fetched, stored, tracked
        with __import__("httpx").Client() as h:
            posts = h.get(f"{sb.base_url}/api/instagram/posts?limit=1").json()
        url = posts[0]["url"]
        r = runner.invoke(app, ["track", url, "--schedule", "1h,24h,7d"])
        assert r.exit_code == 0, r.output
        assert "tracking p-" in r.output
        with engine.connect() as c:
            p = c.execute(
                text("SELECT id, check_schedule, next_check_at, tracking_complete FROM posts WHERE url = :u"),
                {"u": url},
            ).one()
        assert (
            p.check_schedule == ["1h", "24h", "7d"]
            and p.next_check_at is not None
            and not p.tracking_complete
        )
        r = runner.invoke(app, ["tracking"])
        assert r.exit_code == 0 and p.id in r.output
        r = runner.invoke(app, ["untrack", p.id])
        assert r.exit_code == 0
        with engine.connect() as c:
            assert c.execute(text("SELECT tracking_complete FROM posts WHERE id = :i"), {"i": p.id}).scalar()
        r = runner.invoke(app, ["track", "https://www.linkedin.com/feed/update/urn:li:activity:1/"])
        assert r.exit_code == 1 and "no post" in (r.output + (r.stderr if r.stderr_bytes is not None else ""))
        assert item  # the synthetic shapes are importable too
