"""``postpulse import`` on hostile and impossible input: one clear line, a non-zero exit, no
traceback, nothing partial stored; a file whose every record is rejected fails its run; dates
that cannot be right are rejected or flagged."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.cli import app
from postpulse.ingest.loader import ImportFailed, import_file
from tests.ingest.helpers import T0, apify_name, scraper_items, store_snapshot, write_json

runner = CliRunner()

TWEET = {"id": "1", "createdAt": "Sat Jun 21 18:05:00 +0000 2025", "likeCount": 3, "text": "hi"}


def _one_line_failure(result, *words: str) -> None:
    assert result.exit_code not in (0, 2), result.output  # 2 is a usage error box
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    out = result.output.strip()
    assert "Traceback" not in out and "Usage:" not in out
    assert len(out.splitlines()) == 1, out
    for w in words:
        assert w in out, out


@pytest.fixture
def seeded(store_env, engine, tmp_path):
    import_file(engine, write_json(tmp_path / apify_name("tweet-scraper", T0), scraper_items("x")))
    return store_snapshot(engine)


def test_hostile_files_each_give_one_line(seeded, engine, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    folder = tmp_path / "empty_folder"
    folder.mkdir()
    (tmp_path / "odd[").mkdir()
    bracket = tmp_path / "odd[" / "x]name[bold].json"  # the path holds "[/x]"
    bracket.write_text("{not json")
    sparse = tmp_path / "sparse.json"  # 1 GB of NUL bytes, no disk used: refused before it is hashed
    with sparse.open("wb") as fh:
        fh.truncate(1 << 30)
    cases = [
        (sparse, "binary data"),
        (deep, "deeper than"),
        (pipe, "named pipe"),
        (loop, "symbolic link loop"),
        (tmp_path / "missing[/x].json", "file not found"),
        (bracket, "odd[/x]name[bold].json"),
        (folder, "no files to import"),
    ]
    if os.path.exists("/dev/zero"):
        cases.append((__import__("pathlib").Path("/dev/zero"), "a device"))
    for path, words in cases:
        r = runner.invoke(app, ["import", str(path)])
        _one_line_failure(r, words)
    assert store_snapshot(engine) == seeded


def test_path_with_markup_is_printed_as_is_in_the_summary(store_env, engine, tmp_path):
    (tmp_path / "[bold]export[").mkdir()
    f = tmp_path / "[bold]export[" / "x].json"
    write_json(f, [TWEET])
    r = runner.invoke(app, ["import", str(f)])
    assert r.exit_code == 0 and r.exception is None, r.output
    assert "x]" in r.output  # the name, as is (the table may wrap it)


def test_every_record_rejected_fails_the_run(seeded, engine, tmp_path):
    f = tmp_path / "all_bad.json"
    write_json(f, [{**TWEET, "id": str(i), "likeCount": "lots"} for i in range(3)])
    r = runner.invoke(app, ["import", str(f)])
    _one_line_failure(r, "all_bad.json", "every one of its 3 records was rejected", "likeCount")
    after = store_snapshot(engine)
    for table in ("posts", "data_downloads", "profiles", "comments", "post_media"):
        assert after[table] == seeded[table], table
    with engine.connect() as conn:
        run = conn.execute(
            text(
                "SELECT id, status, error_message, records_rejected FROM download_runs "
                "WHERE source_path LIKE '%all_bad.json'"
            )
        ).one()
        reasons = conn.execute(
            text("SELECT count(*) FROM rejected_records WHERE run_id = :r"), {"r": run.id}
        ).scalar()
    assert run.status == "failed" and run.records_rejected == 3 and reasons == 3
    assert "rejected" in run.error_message
    # the failed run does not block importing the file once it is fixed
    write_json(f, [{**TWEET, "id": str(i)} for i in range(3)])
    assert import_file(engine, f).posts_new == 3


def test_every_record_rejected_via_the_api_raises(store_env, engine, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "1", "createdAt": "never", "likeCount": 1}\n{broken\n')
    with pytest.raises(ImportFailed, match="every one of its 2 records"):
        import_file(engine, f)


def test_post_dated_years_after_its_capture_is_rejected(store_env, engine, tmp_path):
    f = tmp_path / apify_name("tweet-scraper", T0)
    later = T0 + timedelta(days=3 * 365)
    write_json(
        f,
        [
            {**TWEET, "id": "1", "createdAt": later.strftime("%a %b %d %H:%M:%S +0000 %Y")},
            {
                **TWEET,
                "id": "2",
                "createdAt": (T0 - timedelta(days=2)).strftime("%a %b %d %H:%M:%S +0000 %Y"),
            },
        ],
    )
    res = import_file(engine, f)
    assert res.posts_new == 1 and res.records_rejected == 1
    (rej,) = res.rejected
    assert rej["field"] == "posted_at" and "after" in rej["reason"] and "capture" in rej["reason"]


def test_snapshot_captured_before_the_post_is_kept_flagged_and_counted(store_env, engine, tmp_path):
    f = tmp_path / "weekly.json"
    posted = T0 + timedelta(days=2)
    write_json(
        f,
        [
            {**TWEET, "id": "1", "createdAt": posted.strftime("%a %b %d %H:%M:%S +0000 %Y")},
            {
                **TWEET,
                "id": "2",
                "createdAt": (T0 - timedelta(days=1)).strftime("%a %b %d %H:%M:%S +0000 %Y"),
            },
        ],
    )
    r = runner.invoke(app, ["import", str(f), "--captured-at", T0.isoformat()])
    assert r.exit_code == 0, r.output
    assert "1 snapshot(s) captured before their post was published" in r.output
    with engine.connect() as conn:
        flags = dict(
            conn.execute(
                text(
                    "SELECT p.platform_post_id, d.captured_before_post FROM data_downloads d "
                    "JOIN posts p ON p.id = d.post_id"
                )
            ).all()
        )
        run = conn.execute(text("SELECT status, snapshots_captured_before_post FROM download_runs")).one()
    assert flags == {"1": True, "2": False}
    assert run.status == "completed" and run.snapshots_captured_before_post == 1


def test_unreadable_file_is_one_line(seeded, engine, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    f = tmp_path / "locked.json"
    f.write_text(json.dumps([TWEET]))
    f.chmod(0)
    r = runner.invoke(app, ["import", str(f)])
    _one_line_failure(r, "locked.json", "permission denied")
    assert store_snapshot(engine) == seeded


def test_post_metrics_never_bracket_an_age_with_a_capture_before_the_post(
    store_env, db_url, engine, tmp_path
):
    from postpulse.analytics import queries
    from postpulse.analytics.duck import open_analytics

    posted = T0 + timedelta(days=2)
    created = posted.strftime("%a %b %d %H:%M:%S +0000 %Y")
    early = tmp_path / "early.json"  # a folder date before the real scrape
    write_json(early, [{**TWEET, "createdAt": created, "likeCount": 5}])
    late = tmp_path / "late.json"
    write_json(late, [{**TWEET, "createdAt": created, "likeCount": 20}])
    assert import_file(engine, early, captured_at=T0).snapshots_captured_before_post == 1
    assert (
        import_file(engine, late, captured_at=posted + timedelta(hours=2)).snapshots_captured_before_post == 0
    )
    a = open_analytics(db_url)
    try:
        df = queries.get("post_metrics").run(a).set_index("age_label")
    finally:
        a.close()
    # 1 h after posting lies between the impossible capture and the real one: no value, not 5 + 15 * x
    assert df.loc["1h", "engagement"] != df.loc["1h", "engagement"] or df.loc["1h", "engagement"] is None
    assert df.loc["1h", "snapshot_before"] is None or str(df.loc["1h", "snapshot_before"]) in ("NaT", "None")


def test_progress_bar_shows_a_name_with_markup_as_is(store_env, engine, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    import postpulse.cli.ingest as ingest_cli

    term = Console(file=io.StringIO(), force_terminal=True, width=120)
    monkeypatch.setattr(ingest_cli, "err_console", term)
    f = tmp_path / "a[bold]b.json"  # read as markup, the name would lose "[bold]"
    write_json(f, [TWEET])
    r = runner.invoke(app, ["import", str(f)])
    assert r.exit_code == 0 and r.exception is None, r.output
    assert "a[bold]b.json" in term.file.getvalue()


def test_control_characters_in_a_file_name_stay_on_one_line(seeded, engine, tmp_path):
    f = tmp_path / "two\nlines\x1b[2J.json"
    f.write_bytes(b"\x00\x01binary")
    r = runner.invoke(app, ["import", str(f)])
    _one_line_failure(r, "two\\x0alines\\x1b[2J.json", "binary data")
    assert "\x1b" not in r.output


def test_a_mapping_that_is_a_fifo_or_too_deep_is_one_line(store_env, engine, tmp_path):
    f = tmp_path / "tweets.json"
    write_json(f, [TWEET])
    pipe = tmp_path / "map.toml"
    os.mkfifo(pipe)
    r = runner.invoke(app, ["import", str(f), "--mapping", str(pipe)])
    _one_line_failure(r, "map.toml", "named pipe")
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    r = runner.invoke(app, ["import", str(f), "--mapping", str(deep)])
    _one_line_failure(r, "deep.toml")


def test_tracking_table_shows_an_author_with_markup_as_is(store_env, engine, tmp_path):
    f = tmp_path / "tweets.json"
    recent = (T0.replace(year=2099)).strftime("%a %b %d %H:%M:%S +0000 %Y")
    write_json(f, [{**TWEET, "createdAt": recent, "author": {"id": "9", "userName": "[red]evil"}}])
    r = runner.invoke(app, ["import", str(f), "--track", "--captured-at", T0.replace(year=2099).isoformat()])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["tracking", "--all"])
    assert r.exit_code == 0, r.output
    assert "[red" in r.output  # the cell may be cut short, but the name is not read as a colour


def test_urls_that_are_not_http_are_not_stored(store_env, engine, tmp_path):
    f = tmp_path / "tweets.json"
    rec = {
        **TWEET,
        "url": "javascript:alert(1)",
        "author": {"id": "9", "userName": "a", "url": " JavaScript:alert(2)"},
        "extendedEntities": {
            "media": [
                {"type": "photo", "media_url_https": "data:text/html,<script>x</script>"},
                {"type": "photo", "media_url_https": "https://pbs.twimg.com/ok.jpg"},
            ]
        },
    }
    write_json(f, [rec, {**TWEET, "id": "2", "url": "https://x.com/a/status/2"}])
    res = import_file(engine, f)
    assert res.posts_new == 2 and res.records_rejected == 0  # the posts stay, the bad links go
    with engine.connect() as conn:
        urls = dict(conn.execute(text("SELECT platform_post_id, url FROM posts")).all())
        media = conn.execute(text("SELECT media_url FROM post_media")).scalars().all()
        profiles = conn.execute(text("SELECT profile_url FROM profiles")).scalars().all()
    assert urls == {"1": None, "2": "https://x.com/a/status/2"}
    assert media == ["https://pbs.twimg.com/ok.jpg"]
    assert profiles and not any(p and "javascript" in p.lower() for p in profiles)
