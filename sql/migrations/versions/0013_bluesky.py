"""Bluesky: accounts on the ``bluesky`` platform, and the rate-limit headers of API calls.

* ``accounts.platform`` accepts ``bluesky`` (connected with a handle and an app password).
* action types ``repost`` and ``delete_post`` (our own post), which API drivers perform;
* ``api_usage`` keeps what the service said about its rate limit on each call
  (``ratelimit-limit``, ``ratelimit-remaining``, ``ratelimit-reset``), so a 429 can be read
  back and the next call waits for the reset.

Revision ID: 0013_bluesky
Revises: 0012_analytics_estimates
"""

from alembic import op

revision = "0013_bluesky"
down_revision = "0012_analytics_estimates"
branch_labels = None
depends_on = None

ACTIONS_BEFORE = (
    "'like', 'unlike', 'comment', 'delete_comment', 'reply', 'dm_send', 'dm_read', 'follow', 'unfollow', "
    "'publish', 'extract_stats'"
)
ACTION_TABLES = ("action_queue", "action_attempts")
PLATFORMS_BEFORE = "'linkedin', 'instagram', 'tiktok', 'x', 'threads', 'facebook', 'youtube', 'sandbox'"


def _action_check(actions: str) -> None:
    for table in ACTION_TABLES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_action_type_check")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_action_type_check CHECK (action_type IN ({actions}))"
        )


def upgrade() -> None:
    _action_check(f"{ACTIONS_BEFORE}, 'repost', 'delete_post'")
    op.execute("ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_platform_check")
    op.execute(
        f"ALTER TABLE accounts ADD CONSTRAINT accounts_platform_check "
        f"CHECK (platform IN ({PLATFORMS_BEFORE}, 'bluesky'))"
    )
    op.execute(
        "ALTER TABLE api_usage ADD COLUMN ratelimit_limit integer CHECK (ratelimit_limit >= 0), "
        "ADD COLUMN ratelimit_remaining integer CHECK (ratelimit_remaining >= 0), "
        "ADD COLUMN ratelimit_reset_at timestamptz"
    )


def downgrade() -> None:
    for table in ACTION_TABLES:
        op.execute(f"DELETE FROM {table} WHERE action_type IN ('repost', 'delete_post')")
    _action_check(ACTIONS_BEFORE)
    op.execute(
        "ALTER TABLE api_usage DROP COLUMN ratelimit_limit, DROP COLUMN ratelimit_remaining, "
        "DROP COLUMN ratelimit_reset_at"
    )
    op.execute("DELETE FROM accounts WHERE platform = 'bluesky'")
    op.execute("ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_platform_check")
    op.execute(
        "ALTER TABLE accounts ADD CONSTRAINT accounts_platform_check "
        f"CHECK (platform IN ({PLATFORMS_BEFORE}))"
    )
