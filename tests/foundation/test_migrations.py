"""The unified schema: upgrade/downgrade on empty and filled databases, atomic failures, and
the seeds' constraints, indexes, trigger and views."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from postpulse import ids
from postpulse.store import migrate
from postpulse.store.database import make_engine

ALL_TABLES = {
    "workspaces",
    "accounts",
    "account_state_history",
    "profiles",
    "tags",
    "profile_tags",
    "posts",
    "post_tags",
    "publications",
    "post_media",
    "comments",
    "hashtags",
    "content_items",
    "download_runs",
    "data_downloads",
    "rejected_records",
    "api_usage",
    "daily_metrics",
    "app_settings",
    "message_templates",
    "blocklist_entries",
    "action_queue",
    "action_attempts",
    "verification_results",
    "dm_threads",
    "dm_messages",
    "audit_entries",
}

# Columns the unified schema must keep, grouped by table.
REQUIRED_COLUMNS = {
    # the engagement core
    "accounts": {
        "platform",
        "platform_user_id",
        "username",
        "display_name",
        "is_active",
        "last_used_at",
        "settings",
        "session_encrypted",
    },
    "profiles": {
        "platform_user_id",
        "username",
        "display_name",
        "profile_url",
        "follower_count",
        "following_count",
        "post_count",
        "is_verified",
        "is_private",
        "bio",
        "first_seen_at",
        "last_seen_at",
    },
    "posts": {
        "platform",
        "platform_post_id",
        "url",
        "author_profile_id",
        "author_username",
        "content_type",
        "text_content",
        "media_urls",
        "like_count",
        "comment_count",
        "share_count",
        "view_count",
        "posted_at",
        "is_sponsored",
        "hashtags",
        "mentions",
        "first_seen_at",
        "last_extracted_at",
        "engagement_status",
        # the LinkedIn tracking schema
        "full_urn",
        "post_type",
        "raw_json",
        "is_read",
        "is_marked",
        # check-backs
        "check_schedule",
        "next_check_at",
        "tracking_complete",
        "tracking_started_at",
        "checks_completed",
    },
    "comments": {
        "platform_comment_id",
        "post_id",
        "author_profile_id",
        "account_id",
        "text",
        "posted_at",
        "like_count",
        "reply_count",
        "is_ours",
        "action_attempt_id",
        "parent_comment_id",
        "is_reply",
    },
    "action_attempts": {
        "run_id",
        "platform",
        "action_type",
        "account_id",
        "target_type",
        "target_id",
        "input",
        "status",
        "result",
        "error",
        "attempted_at",
        "completed_at",
        "duration_ms",
        "verification_id",
    },
    "verification_results": {
        "action_attempt_id",
        "verified",
        "confidence",
        "method",
        "details",
        "verified_at",
        "duration_ms",
    },
    "dm_threads": {
        "platform_thread_id",
        "account_id",
        "participant_profile_id",
        "participant_username",
        "last_message_at",
        "unread_count",
        "is_archived",
        "is_muted",
        "last_synced_at",
    },
    "dm_messages": {
        "platform_message_id",
        "thread_id",
        "is_from_us",
        "sender_profile_id",
        "content_encrypted",
        "content_type",
        "sent_at",
        "delivered_at",
        "read_at",
        "action_attempt_id",
    },
    "audit_entries": {
        "run_id",
        "step_id",
        "event_type",
        "platform",
        "account_id",
        "target_type",
        "target_id",
        "outcome",
        "details",
        "timestamp",
        "duration_ms",
    },
    "blocklist_entries": {
        "entry_type",
        "platform",
        "value",
        "match_type",
        "reason",
        "added_by",
        "created_at",
        "expires_at",
    },
    # download runs and snapshots
    "data_downloads": {
        "post_id",
        "run_id",
        "downloaded_at",
        "total_reactions",
        "stats_json",
        "raw_json",
        "source_file_path",
    },
    "download_runs": {
        "started_at",
        "completed_at",
        "status",
        "script_name",
        "platform",
        "posts_fetched",
        "posts_new",
        "posts_updated",
        "error_message",
        "system_info",
    },
    "tags": {"name", "description", "color"},
    "post_tags": {"post_id", "tag_id", "confidence", "applied_by", "system_notes"},
    "action_queue": {
        "post_id",
        "action_type",
        "action_params",
        "status",
        "priority",
        "scheduled_for",
        "executed_at",
        "user_notes",
        "system_notes",
    },
    "post_media": {
        "post_id",
        "media_type",
        "media_url",
        "local_file_path",
        "file_size",
        "mime_type",
        "width",
        "height",
        "ai_analysis_status",
        "ai_analysis",
        "ai_analyzed_at",
        # media of published posts
        "thumbnail_url",
        "duration_s",
        "alt_text",
        "position",
        "metadata",
    },
    # workspaces
    "workspaces": {
        "name",
        "description",
        "status",
        "daily_follow_limit",
        "unfollow_ratio",
        "posting_schedule",
    },
    "account_state_history": {
        "account_id",
        "from_state",
        "to_state",
        "transition_reason",
        "triggered_by",
        "metadata",
        "created_at",
    },
    "content_items": {
        "content_type",
        "image_url",
        "text_content",
        "is_template",
        "order_priority",
        "usage_count",
        "success_rate",
        "last_used_at",
        "created_by",
    },
    "daily_metrics": {
        "metric_date",
        "posts_published",
        "engagement_rate",
        "actions_completed",
        "actions_failed",
    },
    # publishing
    "publications": {
        "account_id",
        "content",
        "status",
        "content_type",
        "scheduled_for",
        "published_at",
        "title",
        "slug",
        "hashtags",
        "mentions",
        "error_message",
        "failed_at",
        "retry_count",
        "last_retry_at",
        "platform_post_id",
        "platform_post_url",
    },
    # message templates
    "message_templates": {"name", "template_type", "content", "variables", "usage_count"},
}


def _tables(conn) -> set[str]:
    return set(
        conn.execute(
            text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public' "
                "AND table_type='BASE TABLE'"
            )
        ).scalars()
    )


def _indexdef(conn, name: str) -> str:
    return conn.execute(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name}
    ).scalar_one()


def test_upgrade_downgrade_upgrade_on_empty_database(empty_db_url):
    migrate.upgrade(empty_db_url)
    eng = make_engine(empty_db_url)
    with eng.connect() as conn:
        assert ALL_TABLES <= _tables(conn)
    migrate.downgrade(empty_db_url, "base")
    with eng.connect() as conn:
        assert _tables(conn) == {"alembic_version"}
        views = set(
            conn.execute(
                text("SELECT table_name FROM information_schema.views WHERE table_schema='public'")
            ).scalars()
        )
        assert views == set()
    migrate.upgrade(empty_db_url)
    assert migrate.status(empty_db_url).up_to_date
    eng.dispose()


def _fill(conn) -> dict:
    wsp = ids.insert_with_new_id(conn, "workspaces", {"name": "brand"})["id"]
    acc = ids.insert_with_new_id(
        conn,
        "accounts",
        {"workspace_id": wsp, "platform": "linkedin", "platform_user_id": "u1", "username": "me"},
    )["id"]
    prf = ids.insert_with_new_id(conn, "profiles", {"platform": "linkedin", "username": "Alice"})["id"]
    post = ids.insert_with_new_id(
        conn,
        "posts",
        {"platform": "linkedin", "platform_post_id": "7399807615448305665", "author_profile_id": prf},
    )["id"]
    run = ids.insert_with_new_id(conn, "download_runs", {"status": "completed"})["id"]
    ids.insert_with_new_id(
        conn,
        "data_downloads",
        {"post_id": post, "run_id": run, "downloaded_at": "2025-01-01T00:00:00Z", "total_reactions": 5},
    )
    return {"wsp": wsp, "acc": acc, "post": post}


def test_downgrade_and_upgrade_keep_data_of_untouched_tables(empty_db_url):
    migrate.upgrade(empty_db_url)
    eng = make_engine(empty_db_url)
    with eng.begin() as conn:
        made = _fill(conn)
        ids.insert_with_new_id(
            conn,
            "action_queue",
            {"account_id": made["acc"], "action_type": "like", "target_id": made["post"]},
        )
    migrate.downgrade(empty_db_url, "0002_ingest")  # drops engagement and analytics tables
    with eng.connect() as conn:
        assert "action_queue" not in _tables(conn)
        assert conn.execute(text("SELECT total_reactions FROM data_downloads")).scalar_one() == 5
    migrate.upgrade(empty_db_url)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM posts")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM action_queue")).scalar_one() == 0
    eng.dispose()


def test_failed_migration_changes_nothing(empty_db_url):
    migrate.upgrade(empty_db_url, "0001_core")
    eng = make_engine(empty_db_url)
    with eng.begin() as conn:  # sabotage: an object that 0002 creates late in its script
        conn.execute(text("CREATE TABLE api_usage (x int)"))
    with pytest.raises(migrate.MigrationFailed, match="rolled back"):
        migrate.upgrade(empty_db_url)
    with eng.connect() as conn:
        assert "download_runs" not in _tables(conn), "the half-applied migration must roll back"
    assert migrate.status(empty_db_url).current == "0001_core"
    eng.dispose()


def test_all_timestamps_are_timestamptz(engine):
    with engine.connect() as conn:
        naive = (
            conn.execute(
                text(
                    "SELECT table_name || '.' || column_name FROM information_schema.columns "
                    "WHERE table_schema='public' AND data_type = 'timestamp without time zone'"
                )
            )
            .scalars()
            .all()
        )
    assert naive == []


def test_seed_columns_present(engine):
    with engine.connect() as conn:
        cols = conn.execute(
            text("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema='public'")
        ).all()
    have: dict[str, set[str]] = {}
    for t, c in cols:
        have.setdefault(t, set()).add(c)
    missing = {
        t: sorted(want - have.get(t, set()))
        for t, want in REQUIRED_COLUMNS.items()
        if want - have.get(t, set())
    }
    assert missing == {}


def test_indexes_from_the_seeds(engine):
    with engine.connect() as conn:
        assert "WHERE (tracking_complete = false)" in _indexdef(conn, "idx_posts_next_check")
        assert "USING gin (hashtags)" in _indexdef(conn, "idx_posts_hashtags_gin")
        assert "USING gin (mentions)" in _indexdef(conn, "idx_posts_mentions_gin")
        like = _indexdef(conn, "idx_unique_like")
        assert like.startswith("CREATE UNIQUE INDEX") and "'like'" in like and "'success'" in like
        assert "text_hash" in _indexdef(conn, "idx_unique_comment")
        assert "UNIQUE" in _indexdef(conn, "idx_action_unique")
        assert "UNIQUE" in _indexdef(conn, "idx_runs_source_sha256")


def test_idempotency_indexes_refuse_a_second_like(engine):
    with engine.begin() as conn:
        made = _fill(conn)
        row = {
            "run_id": "r1",
            "platform": "linkedin",
            "action_type": "like",
            "account_id": made["acc"],
            "target_type": "post",
            "target_id": made["post"],
            "status": "success",
        }
        ids.insert_with_new_id(conn, "action_attempts", row)
        ids.insert_with_new_id(conn, "action_attempts", {**row, "status": "failed"})  # failures are fine
    with pytest.raises(IntegrityError, match="idx_"), engine.begin() as conn:
        ids.insert_with_new_id(conn, "action_attempts", row)
    with engine.begin() as conn:  # two different comments on one post are fine, the same twice is not
        c = {**row, "action_type": "comment", "text_hash": "h1"}
        ids.insert_with_new_id(conn, "action_attempts", c)
        ids.insert_with_new_id(conn, "action_attempts", {**c, "text_hash": "h2"})
    with pytest.raises(IntegrityError, match="idx_unique_comment"), engine.begin() as conn:
        ids.insert_with_new_id(conn, "action_attempts", {**row, "action_type": "comment", "text_hash": "h1"})


def test_account_state_history_trigger(engine):
    with engine.begin() as conn:
        made = _fill(conn)
        conn.execute(text("SET LOCAL postpulse.transition_reason = 'reviewed by owner'"))
        conn.execute(text("SET LOCAL postpulse.transition_by = 'user'"))
        conn.execute(
            text("UPDATE accounts SET lifecycle_state = 'human_review' WHERE id = :a"), {"a": made["acc"]}
        )
        conn.execute(
            text("UPDATE accounts SET display_name = 'x' WHERE id = :a"), {"a": made["acc"]}
        )  # no change of state
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT from_state, to_state, transition_reason, triggered_by FROM account_state_history "
                "WHERE account_id = :a ORDER BY created_at, from_state NULLS FIRST"
            ),
            {"a": made["acc"]},
        ).all()
    assert [tuple(r) for r in rows] == [
        (None, "imported", "automated_transition", "system"),
        ("imported", "human_review", "reviewed by owner", "user"),
    ]


def test_checks_reject_bad_values(engine):
    with engine.begin() as conn:
        made = _fill(conn)
    for stmt in (
        "UPDATE data_downloads SET like_count = -1",
        "UPDATE posts SET engagement_status = 'loved'",
        "UPDATE workspaces SET unfollow_ratio = 101",
        "UPDATE download_runs SET status = 'failed'",  # failed needs an error message
        "UPDATE posts SET hashtags = '{}'::jsonb",  # must be an array
    ):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(stmt))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO posts (id, platform, platform_post_id) VALUES ('p-zz', 'x', '1')"))
    assert made


def test_rate_limit_view_and_function(engine):
    with engine.begin() as conn:
        made = _fill(conn)
        for status in ("success", "success", "failed", "in_progress"):
            ids.insert_with_new_id(
                conn,
                "action_attempts",
                {
                    "run_id": "r",
                    "platform": "linkedin",
                    "action_type": "comment",
                    "account_id": made["acc"],
                    "target_type": "post",
                    "target_id": made["post"],
                    "status": status,
                    "text_hash": ids.new_id("h"),
                },
            )
    with engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT action_count FROM daily_action_counts WHERE account_id = :a "
                "AND action_type = 'comment'"
            ),
            {"a": made["acc"]},
        ).scalar_one()
        assert count == 3
        assert (
            conn.execute(text("SELECT check_rate_limit(:a, 'comment', 4)"), {"a": made["acc"]}).scalar()
            is True
        )
        assert (
            conn.execute(text("SELECT check_rate_limit(:a, 'comment', 3)"), {"a": made["acc"]}).scalar()
            is False
        )
