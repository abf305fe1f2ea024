"""Official platform APIs: what each call cost and what the platform said about its limits.

``api_usage`` gains ``quota_units`` (YouTube Data API units; other APIs count calls), the
rate-limit window the answer reported (``ratelimit_limit``, ``ratelimit_remaining``,
``ratelimit_reset_at``; the same columns other API clients fill, so created only when absent)
and ``account_id`` (whose token made the call).

Revision ID: 0016_official_apis
"""

from alembic import op

revision = "0016_official_apis"
down_revision = "0015_publishing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE api_usage "
        "ADD COLUMN IF NOT EXISTS ratelimit_limit integer CHECK (ratelimit_limit >= 0), "
        "ADD COLUMN IF NOT EXISTS ratelimit_remaining integer CHECK (ratelimit_remaining >= 0), "
        "ADD COLUMN IF NOT EXISTS ratelimit_reset_at timestamptz, "
        "ADD COLUMN quota_units integer CHECK (quota_units >= 0), "
        "ADD COLUMN account_id text REFERENCES accounts (id) ON DELETE SET NULL"
    )
    op.execute("CREATE INDEX idx_api_usage_account_time ON api_usage (account_id, called_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_api_usage_account_time")
    op.execute("ALTER TABLE api_usage DROP COLUMN quota_units, DROP COLUMN account_id")
