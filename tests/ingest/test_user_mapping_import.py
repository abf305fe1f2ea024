"""A team's own export through ``postpulse import --mapping --captured-at --track`` (the worked
example of the README's ingestion section): string counts parsed, absent counts NULL in the store (never
0), relative posted times resolved against the capture time and flagged approximate (and
replaced by an exact time from a later export), the capture time's source on the run, tracking
started with the platform's default schedule."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.checkbacks.schedule import DEFAULT_SCHEDULES, offsets_seconds, slot_state
from postpulse.cli import app

runner = CliRunner()

MAPPING = """\
name = "fb_page_export"
platform = "facebook"
description = "Our Facebook page export (CSV)"

[detect]
all = ["post_id", "page"]

[fields]
platform_post_id = "post_id"
url = "link"
text = "message"
posted_at = "created_time"
posted_ago = "age"

[author]
username = "page"
follower_count = "page_fans"

[counts]
reactions = "reactions"
comments = "comments"
shares = "shares"
views = "video_views"
"""

HEADER = "post_id,page,link,message,created_time,age,page_fans,reactions,comments,shares,video_views\n"
# captured 3 hours ago (tracking needs slots still ahead); posted 5 days / 2 hours before that
CAPTURED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
FB2_POSTED = CAPTURED - timedelta(hours=2)
FB1_EXACT = CAPTURED - timedelta(days=5, hours=1, minutes=30)
CSV_1 = HEADER + (
    'fb1,ourpage,https://facebook.example/fb1,Hello #launch,,5d,"12,400",1.2K,"3,401",,\n'
    f'fb2,ourpage,https://facebook.example/fb2,Second,{FB2_POSTED:%Y-%m-%dT%H:%M:%SZ},,"12,400",7,0,2,950\n'
)
CSV_2 = HEADER + (
    "fb1,ourpage,https://facebook.example/fb1,Hello "
    f'#launch,{FB1_EXACT:%Y-%m-%dT%H:%M:%SZ},,"12,500",1.5K,"3,500",4,\n'
)


def test_user_mapping_import_cli(store_env, engine, tmp_path):
    mapping = tmp_path / "fb_page_export.toml"
    mapping.write_text(MAPPING)
    first = tmp_path / "page_export.csv"
    first.write_text(CSV_1)
    captured = CAPTURED
    r = runner.invoke(
        app,
        ["import", str(first), "--mapping", str(mapping), "--captured-at", captured.isoformat(), "--track"],
    )
    assert r.exit_code == 0, r.output
    with engine.connect() as c:
        run = c.execute(
            text(
                "SELECT format, platform, captured_at, captured_at_source, posts_new, snapshots_new "
                "FROM download_runs"
            )
        ).one()
        assert tuple(run) == ("mapping:fb_page_export", "facebook", captured, "cli", 2, 2)
        snaps = {
            row.platform_post_id: row
            for row in c.execute(
                text(
                    "SELECT p.platform_post_id, d.downloaded_at, d.total_reactions, d.comment_count, "
                    "d.share_count, "
                    "d.view_count, d.like_count FROM data_downloads d JOIN posts p ON p.id = d.post_id"
                )
            )
        }
        # "1.2K" and "3,401" parsed; empty cells are absent: NULL, never 0; a real 0 stays 0
        fb1, fb2 = snaps["fb1"], snaps["fb2"]
        assert (fb1.total_reactions, fb1.comment_count, fb1.share_count, fb1.view_count, fb1.like_count) == (
            1200,
            3401,
            None,
            None,
            None,
        )
        assert (fb2.total_reactions, fb2.comment_count, fb2.share_count, fb2.view_count) == (7, 0, 2, 950)
        assert fb1.downloaded_at == captured
        posts = {
            row.platform_post_id: row
            for row in c.execute(
                text(
                    "SELECT platform_post_id, posted_at, posted_at_approximate, reaction_count, share_count, "
                    "view_count, "
                    "next_check_at, tracking_started_at, checks_completed, tracking_complete FROM posts"
                )
            )
        }
        # "5d" resolved against the capture time, flagged approximate; an exact time is not
        assert posts["fb1"].posted_at == captured - timedelta(days=5) and posts["fb1"].posted_at_approximate
        assert posts["fb2"].posted_at == FB2_POSTED
        assert not posts["fb2"].posted_at_approximate
        assert posts["fb1"].share_count is None and posts["fb1"].view_count is None
        # --track: the platform's default schedule; slots already past count as done
        for pid, p in posts.items():
            assert p.tracking_started_at is not None and not p.tracking_complete, pid
            st = slot_state(
                offsets_seconds(DEFAULT_SCHEDULES["facebook"]), p.posted_at, p.tracking_started_at
            )
            assert (p.next_check_at, p.checks_completed) == (st.next_check_at, st.checks_completed), pid
        assert posts["fb2"].checks_completed == 1 and posts["fb2"].next_check_at == FB2_POSTED + timedelta(
            hours=6
        )
        assert posts["fb1"].next_check_at == posts["fb1"].posted_at + timedelta(days=7)
        prof = c.execute(text("SELECT username, follower_count FROM profiles")).one()
        assert tuple(prof) == ("ourpage", 12400)

    # a later export carries the exact posted time: it replaces the approximate one
    second = tmp_path / "page_export_2.csv"
    second.write_text(CSV_2)
    r = runner.invoke(
        app,
        [
            "import",
            str(second),
            "--mapping",
            str(mapping),
            "--captured-at",
            (captured + timedelta(hours=1)).isoformat(),
        ],
    )
    assert r.exit_code == 0, r.output
    with engine.connect() as c:
        p = c.execute(
            text(
                "SELECT posted_at, posted_at_approximate, reaction_count, share_count, view_count "
                "FROM posts WHERE platform_post_id = 'fb1'"
            )
        ).one()
        assert p.posted_at == FB1_EXACT and not p.posted_at_approximate
        assert (p.reaction_count, p.share_count, p.view_count) == (1500, 4, None)
        assert c.execute(text("SELECT count(*) FROM data_downloads")).scalar() == 3


def test_import_cli_forced_format_and_unknown_format(store_env, engine, tmp_path):
    mapping = tmp_path / "fb_page_export.toml"
    mapping.write_text(MAPPING)
    f = tmp_path / "page_export.csv"
    f.write_text(CSV_1)
    r = runner.invoke(app, ["import", str(f), "--format", "apify_x_tweets"])
    # forced to a format it is not: every record rejected, so the run fails, naming the first reason
    assert r.exit_code == 1, r.output
    out = " ".join(r.output.split())
    assert "rejected every one of its 2 records" in out and "first: record 0" in out, out
    with engine.connect() as c:
        for table in ("posts", "rejected_records", "download_runs"):
            assert c.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
    r = runner.invoke(app, ["import", str(f), "--format", "no_such_format"])
    assert r.exit_code == 1 and "no_such_format" in r.output
